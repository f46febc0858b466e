"""Fine-tuning a pretrained backbone for detection or segmentation with mmdet's or mmseg's
runner: the shared entry point of ``tools/benchmarks/mmdetection/train.sh`` and
``tools/benchmarks/mmsegmentation/train.sh``.

:func:`main`

1. reads the pretrained file: an extracted backbone (``tools/model_converters/
   extract_backbone.py``, torchvision key names) or an mmmoco training checkpoint, whose
   ``backbone.`` weights are used;
2. points every ``init_cfg=dict(type='Pretrained', checkpoint=None)`` of the model config at
   that file (the benchmark configs leave the checkpoint unset);
3. builds the runner and, before training, checks that the file holds every weight of those
   modules with the right shape, stopping with the missing keys otherwise. A module may name
   children that no pretrained file can hold (a layer the protocol adds) in a
   ``not_pretrained`` attribute; those are skipped;
4. trains, and once the runner has initialised the weights checks that those modules hold
   exactly the file's tensors (:class:`PretrainedLoadedHook`), and logs it.
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from mmmoco.engine.runner import MoCoRunner
from mmmoco.evaluation.pretrained import backbone_state_dict
from mmmoco.utils.checkpoint import allow_mmengine_checkpoints, load_checkpoint_file
from mmmoco.utils.dataloader import without_idle_persistent_workers
from mmmoco.apis.cli import add_runner_arguments, apply_runner_arguments, parse_runner_args

#: The wrapper script of each supported default scope, for messages and work dirs.
WRAPPERS = {
    'mmdet': 'tools/benchmarks/mmdetection/train.sh',
    'mmseg': 'tools/benchmarks/mmsegmentation/train.sh',
}

#: Key prefix of the query backbone in mmmoco training checkpoints.
BACKBONE_PREFIX = 'backbone.'

#: How many offending keys an error message lists.
LISTED_KEYS = 20


def parse_args(scope: str) -> argparse.Namespace:
    """Parse the command line of a transfer wrapper.

    Args:
        scope: The default scope the configs must have, ``'mmdet'`` or ``'mmseg'``.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description=f'Fine-tune an {scope} model from a pretrained backbone '
                    f'(usually through {WRAPPERS[scope]})')
    parser.add_argument('config', help=f'an {scope} benchmark config')
    parser.add_argument('pretrain', help='extracted backbone or mmmoco training checkpoint')
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def build_config(args: argparse.Namespace, scope: str) -> Config:
    """Load the config and apply the command-line options to it.

    Args:
        args: Parsed command line (see :func:`parse_args`).
        scope: The default scope the config must have.

    Returns:
        The final config.

    Raises:
        SystemExit: If the config belongs to another codebase than ``scope``.
    """
    cfg = Config.fromfile(args.config)
    found = cfg.get('default_scope')
    if found != scope:
        hint = f'; use {WRAPPERS[found]}' if found in WRAPPERS else ''
        raise SystemExit(f'{args.config} has default_scope={found!r}, but {WRAPPERS[scope]} '
                         f'runs {scope!r} configs{hint}')
    tool = osp.basename(osp.dirname(WRAPPERS[scope]))
    cfg = apply_runner_arguments(cfg, args, work_dir_root=osp.join('./work_dirs', tool))
    for name in drop_persistent_workers(cfg):
        print_log(f'{name}.num_workers=0: {name}.persistent_workers set to False (PyTorch '
                  'refuses persistent workers without workers)', logger='current')
    return cfg


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


def load_pretrained_weights(path: str) -> Tuple[Dict[str, torch.Tensor], Optional[str]]:
    """Read the backbone weights of a pretrained file.

    Args:
        path: An extracted backbone or an mmmoco training checkpoint.

    Returns:
        The weights with torchvision key names, and the key prefix ``init_cfg`` must strip
        when loading the file (``'backbone.'`` for a training checkpoint, else None).
    """
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get('state_dict', checkpoint)
    prefix = BACKBONE_PREFIX if any(key.startswith(BACKBONE_PREFIX) for key in state) else None
    return backbone_state_dict(checkpoint, BACKBONE_PREFIX), prefix


def join(path: str, name: str) -> str:
    """Append a name to a dotted module path.

    Args:
        path: The dotted path; '' for the root.
        name: The child's name.

    Returns:
        The child's dotted path.
    """
    return f'{path}.{name}' if path else name


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


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP (or other mmengine) wrapper.

    Args:
        model: The runner's model.

    Returns:
        The bare model.
    """
    return model.module if is_model_wrapper(model) else model


def submodule(model: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted path found in the model config.

    Args:
        model: The bare model.
        path: Dotted path, e.g. ``'roi_head.shared_head'``.

    Returns:
        The submodule.

    Raises:
        ValueError: If the model has no such submodule.
    """
    try:
        return model.get_submodule(path)
    except AttributeError as error:
        raise ValueError(f'the config gives model.{path} a Pretrained init_cfg, but the '
                         f'built {type(model).__name__} has no submodule {path!r}') from error


def expected_weights(module: nn.Module) -> Dict[str, torch.Size]:
    """The weights a pretrained file must provide for ``module``.

    Args:
        module: A module initialised from the pretrained file.

    Returns:
        Its state dict's keys and shapes, without the children named in its
        ``not_pretrained`` attribute (if any).
    """
    skipped = tuple(f'{name}.' for name in getattr(module, 'not_pretrained', ()))
    return {key: value.shape for key, value in module.state_dict().items()
            if not key.startswith(skipped)}


def listed(keys: List[str]) -> str:
    """Format offending keys for an error message.

    Args:
        keys: The keys.

    Returns:
        The first :data:`LISTED_KEYS` of them, and how many more there are.
    """
    more = len(keys) - LISTED_KEYS
    return ', '.join(keys[:LISTED_KEYS]) + (f' (and {more} more)' if more > 0 else '')


def module_names(module_paths: List[str]) -> str:
    """Name modules for a message.

    Args:
        module_paths: Dotted paths in the model ('' for the model itself).

    Returns:
        E.g. ``'model.backbone, model.roi_head.shared_head'``.
    """
    return ', '.join(join('model', path) for path in module_paths)


def check_pretrained_coverage(model: nn.Module, module_paths: List[str],
                              weights: Dict[str, torch.Tensor], source: str) -> List[str]:
    """Check that a pretrained file holds every weight of the modules that load it.

    Args:
        model: The bare model (built, not yet initialised).
        module_paths: Dotted paths of the modules initialised from the file.
        weights: The file's weights (see :func:`load_pretrained_weights`).
        source: The file's path, for messages.

    Returns:
        The file's keys that none of the modules takes (e.g. a classifier's ``fc``), sorted.

    Raises:
        ValueError: If a weight is missing from the file or has another shape there; the
            message names the file and the offending keys.
    """
    missing, mismatched, used = [], [], set()
    for path in module_paths:
        for key, shape in expected_weights(submodule(model, path)).items():
            if key not in weights:
                missing.append(key)
            elif weights[key].shape != shape:
                mismatched.append(f'{key}: {tuple(weights[key].shape)} in the file, '
                                  f'{tuple(shape)} in model.{path}')
            else:
                used.add(key)
    if missing or mismatched:
        problems = []
        if missing:
            problems.append(f'{len(missing)} weights are missing: {listed(missing)}')
        if mismatched:
            problems.append(f'{len(mismatched)} have another shape: {listed(mismatched)}')
        raise ValueError(f'pretrained file {source} does not fit {module_names(module_paths)}: '
                         + '; '.join(problems))
    return sorted(set(weights) - used)


class PretrainedLoadedHook(Hook):
    """After the runner initialised the weights, check that the modules initialised from the
    pretrained file hold exactly its tensors, and log it.

    Skipped when the weights come from ``load_from`` or a resumed checkpoint instead.

    Args:
        module_paths: Dotted paths of the modules initialised from the file.
        source: The pretrained file.
    """

    priority = 'VERY_LOW'  # after any hook that sets weights up in before_train

    def __init__(self, module_paths: List[str], source: str) -> None:
        self.module_paths = module_paths
        self.source = source

    def before_train(self, runner) -> None:
        """Compare the initialised weights with the file's.

        Args:
            runner: The runner.

        Raises:
            RuntimeError: If a module's weight differs from the file's (initialisation did not
                load it); the message lists the keys.
        """
        if runner.cfg.get('resume') or runner.cfg.get('load_from'):
            runner.logger.info(f'Weights come from load_from/resume, not compared with '
                               f'{self.source}')
            return
        weights, _ = load_pretrained_weights(self.source)
        model = unwrap(runner.model)
        differing, count = [], 0
        for path in self.module_paths:
            module = submodule(model, path)
            state = module.state_dict()
            for key in expected_weights(module):
                count += 1
                if not torch.equal(state[key].detach().cpu(), weights[key]):
                    differing.append(f'{path}.{key}')
        if differing:
            raise RuntimeError(f'these weights were not loaded from {self.source}: '
                               f'{listed(differing)}')
        runner.logger.info(f'Pretrained weights loaded: the {count} tensors of '
                           f'{module_names(self.module_paths)} equal those of {self.source}')


def main(scope: str) -> None:
    """Fine-tune a model from a pretrained backbone; the wrappers' entry point.

    Args:
        scope: The default scope of the configs this wrapper runs, ``'mmdet'`` or ``'mmseg'``.

    Raises:
        SystemExit: If the pretrained file cannot be read or lacks weights of the modules it
            initialises, or the config is not a benchmark config of ``scope``.
    """
    args = parse_args(scope)
    tool = WRAPPERS[scope]
    try:
        weights, prefix = load_pretrained_weights(args.pretrain)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f'{tool}: cannot read pretrained weights: {error}') from error
    cfg = build_config(args, scope)
    module_paths = fill_pretrained(cfg.model, args.pretrain, prefix)
    if not module_paths:
        raise SystemExit(f"{tool}: {args.config} has no init_cfg=dict(type='Pretrained', "
                         "checkpoint=None) to point at the pretrained file; use a config "
                         'from configs/benchmarks/')
    runner = MoCoRunner.from_cfg(cfg)
    try:
        unused = check_pretrained_coverage(unwrap(runner.model), module_paths, weights,
                                           args.pretrain)
    except ValueError as error:
        raise SystemExit(f'{tool}: {error}') from error
    if unused:
        runner.logger.warning(f'{len(unused)} weights of {args.pretrain} are not used: '
                              f'{listed(unused)}')
    runner.logger.info(f'{args.pretrain} holds every weight of {module_names(module_paths)}')
    del weights
    runner.register_hook(PretrainedLoadedHook(module_paths, args.pretrain))
    with allow_mmengine_checkpoints():
        runner.train()
