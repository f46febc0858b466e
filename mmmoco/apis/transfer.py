"""Fine-tuning a pretrained backbone for detection or segmentation with mmdet's or mmseg's
runner: the entry point of ``tools/benchmarks/downstream_train.sh``.

:func:`main`

1. reads the pretrained file: an extracted backbone (``tools/model_converters/
   extract_backbone.py``, torchvision key names) or an mmmoco training checkpoint, whose
   ``backbone.`` weights are used;
2. loads the config, whose ``default_scope`` (``'mmdet'`` or ``'mmseg'``) says which codebase
   trains it, and points every ``init_cfg=dict(type='Pretrained', checkpoint=None)`` of its
   model at that file (the benchmark configs leave the checkpoint unset); mmmoco's atomic
   checkpoint hook, exact-resume loop and ``RandomStateHook`` replace or join the library's
   plain ones (:func:`declare_safe_types`, :func:`add_random_state_hook`);
3. builds the runner and, before training, checks that the file holds every weight of those
   modules with the right shape, stopping with the missing keys otherwise. A module may name
   children that no pretrained file can hold (a layer the protocol adds) in a
   ``not_pretrained`` attribute; those are skipped;
4. trains, and once the runner has initialised the weights checks that those modules hold
   exactly the file's tensors (:class:`~mmmoco.engine.hooks.PretrainedLoadedHook`), and logs it.
"""
import argparse
import importlib
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

from mmmoco.apis.cli import add_runner_arguments, apply_runner_arguments, parse_runner_args
from mmmoco.engine.hooks.pretrained_loaded import PretrainedLoadedHook
from mmmoco.engine.runner import MoCoRunner
from mmmoco.engine.runner.safe_types import (UnsafeTypeError, refuse_plain_checkpoint_hook,
                                             refuse_plain_train_loop)
from mmmoco.models.utils.pretrained import (check_pretrained_coverage, join, listed,
                                            load_pretrained_weights, module_names)
from mmmoco.utils.checkpoint import allow_mmengine_checkpoints
from mmmoco.utils.dataloader import without_idle_persistent_workers
from mmmoco.utils.distributed import bare_model

#: The wrapper script, for messages.
WRAPPER = 'tools/benchmarks/downstream_train.sh'

#: Each supported default scope -> the folder of its benchmark configs (configs/benchmarks/).
CODEBASES = {'mmdet': 'mmdetection', 'mmseg': 'mmsegmentation'}


def parse_args() -> argparse.Namespace:
    """Parse the command line of the transfer wrapper.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Fine-tune an mmdet or mmseg model from a pretrained backbone '
                    f'(usually through {WRAPPER})')
    parser.add_argument('config', help='an mmdet or mmseg benchmark config')
    parser.add_argument('pretrain', help='extracted backbone or mmmoco training checkpoint')
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options to it.

    Args:
        args: Parsed command line (see :func:`parse_args`).

    Returns:
        The final config; its work dir defaults to ``work_dirs/<config name>``, as for every
        tool (:func:`~mmmoco.apis.cli.default_work_dir`).

    Raises:
        SystemExit: If the config's ``default_scope`` is neither ``'mmdet'`` nor ``'mmseg'``.
    """
    cfg = Config.fromfile(args.config)
    scope = cfg.get('default_scope')
    if scope not in CODEBASES:
        raise SystemExit(f'{args.config} has default_scope={scope!r}, but {WRAPPER} runs '
                         "mmdet and mmseg configs (default_scope='mmdet' or 'mmseg')")
    cfg = apply_runner_arguments(cfg, args)
    for name in drop_persistent_workers(cfg):
        print_log(f'{name}.num_workers=0: {name}.persistent_workers set to False (PyTorch '
                  'refuses persistent workers without workers)', logger='current')
    for key, safe in declare_safe_types(cfg):
        print_log(f'{key}: {safe} (the library config names the plain mmengine type, which '
                  "mmmoco's runner refuses)", logger='current')
    if add_random_state_hook(cfg):
        print_log(f"default_hooks.random_state: {RANDOM_STATE_HOOK['type']} added (a resumed "
                  'run continues with the random state it stopped with)', logger='current')
    return cfg


#: mmengine types of the libraries' configs -> the safe types mmmoco's runner requires.
SAFE_TYPES = {
    ('default_hooks', 'checkpoint'): 'mmmoco.AtomicCheckpointHook',
    ('train_cfg', ): 'mmmoco.ExactResumeEpochBasedTrainLoop',
}


def declare_safe_types(cfg: Config) -> List[Tuple[str, str]]:
    """Declare mmmoco's atomic checkpoint hook and exact-resume epoch loop in a library config.

    mmdet's and mmseg's configs name mmengine's ``CheckpointHook`` (deletes the oldest
    checkpoint before the new one is written) and ``EpochBasedTrainLoop``; the transfer
    wrapper runs them with :class:`~mmmoco.engine.runner.MoCoRunner`, which refuses those.
    Iteration-based loops and other types are kept.

    Args:
        cfg: The runner config, changed in place.

    Returns:
        ``(config key, new type)`` for every entry changed.
    """
    changed = []
    for path, safe in SAFE_TYPES.items():
        node = cfg.get(path[0])
        for key in path[1:]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        refuse = refuse_plain_checkpoint_hook if path[0] == 'default_hooks' else \
            refuse_plain_train_loop
        try:
            refuse(node)
        except UnsafeTypeError:
            node.pop('by_epoch', None)
            node['type'] = safe
            changed.append(('.'.join(path) + '.type', safe))
    return changed


#: mmmoco's hook that makes resume exact, which the libraries' configs do not declare.
RANDOM_STATE_HOOK = dict(type='mmmoco.RandomStateHook')


def add_random_state_hook(cfg: Config) -> bool:
    """Add mmmoco's ``RandomStateHook`` to a library config that has none.

    mmmoco's own configs declare it (``configs/_base_/default_runtime.py``); with it a
    resumed fine-tuning restores the random generators and the sampler seed of its checkpoint.

    Args:
        cfg: The runner config, changed in place.

    Returns:
        Whether the hook was added (False if a ``RandomStateHook`` is already declared).
    """
    hooks = [*(cfg.get('default_hooks') or {}).values(), *(cfg.get('custom_hooks') or [])]
    if any(isinstance(hook, dict) and isinstance(hook.get('type'), str)
           and hook['type'].split('.')[-1] == 'RandomStateHook' for hook in hooks):
        return False
    cfg.setdefault('default_hooks', {})['random_state'] = dict(RANDOM_STATE_HOOK)
    return True


#: The dataloaders of a runner config.
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def drop_persistent_workers(cfg: Config) -> List[str]:
    """Turn off ``persistent_workers`` in every dataloader that starts no workers.

    The libraries' configs set ``persistent_workers=True``; PyTorch refuses it without worker
    processes, so a CPU run with ``num_workers=0`` would otherwise need both overrides.

    Args:
        cfg: The runner config, changed in place.

    Returns:
        The names of the dataloaders changed, e.g. ``['train_dataloader']``.
    """
    changed = []
    for name in DATALOADERS:
        loader = cfg.get(name)
        if isinstance(loader, dict):
            fixed = without_idle_persistent_workers(loader)
            if fixed is not loader:
                cfg[name] = fixed
                changed.append(name)
    return changed


def fill_pretrained(node: object, checkpoint: str, prefix: Optional[str],
                    path: str = '') -> List[str]:
    """Point every unset ``Pretrained`` init_cfg in a model config at ``checkpoint``.

    Args:
        node: A model config (a dict), or a part of one (lists and values are walked too).
        checkpoint: Path of the pretrained weights.
        prefix: Key prefix to strip from the file's keys when loading (see
            :func:`load_pretrained_weights`), or None.
        path: Dotted path of ``node`` in the model; '' for the model itself.

    Returns:
        The dotted paths of the modules that will load ``checkpoint``, e.g. ``['backbone']``.
    """
    if isinstance(node, (list, tuple)):
        return [found for i, item in enumerate(node)
                for found in fill_pretrained(item, checkpoint, prefix, join(path, str(i)))]
    if not isinstance(node, dict):
        return []
    found = []
    init_cfg = node.get('init_cfg')
    if (isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'
            and init_cfg.get('checkpoint') is None):
        init_cfg['checkpoint'] = checkpoint
        if prefix is not None:
            init_cfg['prefix'] = prefix
        found.append(path)
    for key, value in node.items():
        if key != 'init_cfg':
            found += fill_pretrained(value, checkpoint, prefix, join(path, key))
    return found


def main(scope_modules: Optional[Dict[str, Sequence[str]]] = None) -> None:
    """Fine-tune a model from a pretrained backbone; the wrapper's entry point.

    Args:
        scope_modules: Modules to import before building a config of a default scope, to
            register what its configs use, e.g. ``{'mmdet': ['res5_extra_norm']}``.

    Raises:
        SystemExit: If the pretrained file cannot be read or lacks weights of the modules it
            initialises, or the config is not an mmdet or mmseg benchmark config.
    """
    args = parse_args()
    try:
        weights, prefix = load_pretrained_weights(args.pretrain)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f'{WRAPPER}: cannot read pretrained weights: {error}') from error
    cfg = build_config(args)
    for name in (scope_modules or {}).get(cfg.default_scope, ()):
        importlib.import_module(name)
    module_paths = fill_pretrained(cfg.model, args.pretrain, prefix)
    if not module_paths:
        raise SystemExit(f"{WRAPPER}: {args.config} has no init_cfg=dict(type='Pretrained', "
                         "checkpoint=None) to point at the pretrained file; use a config "
                         'from configs/benchmarks/')
    runner = MoCoRunner.from_cfg(cfg)
    try:
        model = bare_model(runner.model)
        unused = check_pretrained_coverage(model, module_paths, weights, args.pretrain)
    except ValueError as error:
        raise SystemExit(f'{WRAPPER}: {error}') from error
    if unused:
        runner.logger.warning(f'{len(unused)} weights of {args.pretrain} are not used: '
                              f'{listed(unused)}')
    runner.logger.info(f'{args.pretrain} holds every weight of {module_names(module_paths)}')
    del weights
    runner.register_hook(PretrainedLoadedHook(module_paths, args.pretrain))
    with allow_mmengine_checkpoints():
        runner.train()
