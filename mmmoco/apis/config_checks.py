"""Start-up checks of a training config: mistakes that mmengine would ignore, or report only
after an epoch, stop the run before anything is built, with one message naming the key.

- :func:`check_top_level_keys`: a top-level key that neither the runner nor the mmmoco /
  OpenMMLab config conventions know (``train_cfgs``, ``randomnes``) is refused, with the close
  match suggested. Only keys set by the config file itself or by ``--cfg-options`` are
  checked; keys inherited from ``_base_`` files (e.g. the variables of mmdet's own configs) are
  trusted. A helper variable of a config is declared by a leading underscore (``_crop = 224``).
- :func:`check_hook_arguments`: every ``default_hooks`` / ``custom_hooks`` entry names a
  registered hook and only arguments its ``__init__`` takes (``checkpoint.intervl`` is caught
  here, not when the checkpoint is first written).
- :func:`check_optimizer_hyper_parameters`: learning rate, weight decay, momentum, betas,
  eps and the scheduler's numbers are finite and in range (``optim_wrapper.optimizer.lr=inf``
  is refused; a finite but absurd value is left to the runner's non-finite loss check).
- :func:`check_training_hooks`: a momentum model (MoCo, MoCoV3) keeps the default momentum
  hook (``default_hooks.momentum=None`` is refused: the key encoder would never move), and
  ``MomentumUpdateHook`` is not listed again in ``custom_hooks`` (it would update twice); a
  run without ``RandomStateHook`` is warned that its resume will not be exact.
- :func:`check_safe_types`: a MoCoRunner config declares the exact-resume train loop and the
  atomic checkpoint hook, not mmengine's plain ones.
- :func:`check_vis_backend_packages`: the package an experiment tracker's backend imports
  (``wandb``, ``mlflow``, ``tensorboard``, ...) is installed; otherwise one line names what to
  ``pip install`` instead of an ImportError when the runner starts logging.
"""
import ast
import difflib
import importlib.util
import inspect
import logging
import math
import os.path as osp
from numbers import Real
from typing import Any, Iterable, Mapping, Optional, Set

import mmengine
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from mmmoco.engine.runner.safe_types import (UnsafeTypeError, refuse_plain_checkpoint_hook,
                                             refuse_plain_train_loop)
from mmmoco.models.algorithms.base_momentum import BaseMomentumModel
from mmmoco.registry import MODELS
from .config_aliases import RENAMED_KEY


#: Top-level keys read by mmengine's Runner (besides its ``__init__`` arguments), by mmengine's
#: Config, and by mmmoco's runner and tools (``knn``: tools/benchmarks/knn_eval.py;
#: ``load_from_strict``, ``overwrite_checkpoints``, ``verbose_console``,
#: ``resume_allow_config_changes``: :class:`mmmoco.engine.runner.MoCoRunner`; ``renamed_to``:
#: the marker of an old config name, :mod:`mmmoco.apis.config_aliases`).
RUNNER_EXTRA_KEYS = frozenset({
    'runner_type', 'custom_imports', 'model_wrapper_cfg', 'find_unused_parameters',
    'sync_bn', 'compile', 'activation_checkpointing', 'efficient_conv_bn_eval', 'knn',
    'load_from_strict', 'overwrite_checkpoints', 'verbose_console',
    'resume_allow_config_changes', RENAMED_KEY,
})

#: Helper variables that OpenMMLab configs conventionally define at the top level and use to
#: build other keys.
CONVENTIONAL_KEYS = frozenset({
    'data_root', 'dataset_type', 'backend_args', 'file_client_args', 'metainfo', 'classes',
    'img_norm_cfg', 'norm_cfg', 'crop_size', 'img_scale', 'image_size',
    'train_pipeline', 'val_pipeline', 'test_pipeline', 'view_pipeline',
    'tta_model', 'tta_pipeline', 'max_epochs', 'max_iters', 'warmup_epochs', 'warmup_iters',
    'base_lr', 'batch_size', 'base_batch_size', 'num_classes',
})

#: Keys of a hook config that mmengine itself consumes (not passed to the hook).
HOOK_META_KEYS = frozenset({'type', 'priority'})

#: Learning rates above this are legal but suspicious (linear evaluation uses 30).
LARGE_LR = 100.0

#: The package each experiment-tracker backend imports (its pip name is the same).
VIS_BACKEND_PACKAGES = {
    'WandbVisBackend': 'wandb',
    'WandbCodeRootVisBackend': 'wandb',
    'MLflowVisBackend': 'mlflow',
    'TensorboardVisBackend': 'tensorboard',
    'ClearMLVisBackend': 'clearml',
    'NeptuneVisBackend': 'neptune',
    'DVCLiveVisBackend': 'dvclive',
    'AimVisBackend': 'aim',
}


class ConfigCheckError(ValueError):
    """A config key is unknown, mistyped or has an invalid value; the message names it."""


def known_top_level_keys() -> Set[str]:
    """The top-level keys a training config may set.

    Returns:
        The arguments of :class:`mmengine.runner.Runner`, :data:`RUNNER_EXTRA_KEYS` and
        :data:`CONVENTIONAL_KEYS`.
    """
    runner_args = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    return runner_args | RUNNER_EXTRA_KEYS | CONVENTIONAL_KEYS


def keys_set_by_file(filename: str) -> Set[str]:
    """The top-level names a config file assigns itself (not those of its ``_base_`` files).

    Args:
        filename: A ``.py``, ``.json``, ``.yaml`` or ``.yml`` config.

    Returns:
        The assigned names, ``_base_`` excluded.
    """
    if not filename.endswith('.py'):
        return set(mmengine.load(filename)) - {'_base_'}
    with open(filename, encoding='utf-8') as file:
        tree = ast.parse(file.read(), filename)
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            names.update(elt.id for elt in ast.walk(target) if isinstance(elt, ast.Name))
    return names - {'_base_'}


def _suggestion(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ''


def check_top_level_keys(cfg: Config, cfg_options: Optional[Mapping[str, Any]] = None) -> None:
    """Refuse unknown top-level keys set by the config file or the command line.

    Args:
        cfg: The loaded config (``cfg.filename`` is read to find the keys the file sets).
        cfg_options: The ``--cfg-options`` dict (dotted keys), if any.

    Raises:
        ConfigCheckError: For the first unknown key, naming it and the closest known key.
    """
    own = {key.split('.')[0] for key in (cfg_options or {})}
    if cfg.filename and osp.isfile(cfg.filename):
        own |= keys_set_by_file(cfg.filename)
    known = known_top_level_keys()
    for key in sorted(own & set(cfg.keys())):
        if key in known or key.startswith('_'):
            continue
        raise ConfigCheckError(
            f"unknown top-level config key '{key}'{_suggestion(key, known)}; a helper variable "
            "of the config must start with '_'")


def _hook_class(type_: Any, where: str) -> type:
    if inspect.isclass(type_):
        return type_
    if not isinstance(type_, str):
        raise ConfigCheckError(f'{where}.type must be a hook class name, got {type_!r}')
    with HOOKS.switch_scope_and_registry(None) as registry:
        hook_cls = registry.get(type_)
        names = {name for scope in (registry, registry.parent) if scope is not None
                 for name in scope.module_dict}
    if hook_cls is None:
        raise ConfigCheckError(f"{where}.type='{type_}' is not a registered hook"
                               f'{_suggestion(type_, names)}')
    return hook_cls


def hook_arguments(hook_cls: type) -> Optional[Set[str]]:
    """The keyword arguments a hook class takes.

    ``**kwargs`` are followed up the class hierarchy while each ``__init__`` passes them on;
    those of mmengine's :class:`~mmengine.hooks.CheckpointHook` go to
    ``Runner.save_checkpoint``, whose arguments the hook already sets, so they end there.

    Args:
        hook_cls: The hook class.

    Returns:
        The argument names, or None when ``**kwargs`` lead somewhere unknown (any name may
        be valid).
    """
    accepted: Set[str] = set()
    for klass in hook_cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        if klass is object:
            return None
        parameters = inspect.signature(klass.__init__).parameters.values()
        accepted |= {param.name for param in parameters
                     if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)}
        if klass is CheckpointHook or all(param.kind is not param.VAR_KEYWORD
                                          for param in parameters):
            return accepted - {'self'}
    return None


def _check_hook(hook_cfg: Any, where: str, names: Iterable[str] = ()) -> None:
    if not isinstance(hook_cfg, Mapping):
        return
    if 'type' not in hook_cfg:
        raise ConfigCheckError(f'{where} has no type{_suggestion(where.split(".")[-1], names)}')
    hook_cls = _hook_class(hook_cfg['type'], where)
    accepted = hook_arguments(hook_cls)
    if accepted is None:
        return
    for key in hook_cfg:
        if key not in accepted and key not in HOOK_META_KEYS and not key.startswith('_'):
            raise ConfigCheckError(f'{where}.{key}: {hook_cls.__name__} has no argument '
                                   f"'{key}'{_suggestion(key, accepted)}")


def check_hook_arguments(cfg: Config) -> None:
    """Check the hooks of ``default_hooks`` and ``custom_hooks`` against their classes.

    Args:
        cfg: The config; the mmmoco modules must be registered.

    Raises:
        ConfigCheckError: For a hook without a type, an unregistered type, or an argument its
            class does not take; names the key, e.g. ``default_hooks.checkpoint.intervl``.
    """
    default_hooks = cfg.get('default_hooks') or {}
    for name, hook_cfg in default_hooks.items():
        _check_hook(hook_cfg, f'default_hooks.{name}', set(default_hooks) - {name})
    for index, hook_cfg in enumerate(cfg.get('custom_hooks') or []):
        _check_hook(hook_cfg, f'custom_hooks.{index}')


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigCheckError(f'{where}={value!r} must be a number')
    if not math.isfinite(value):
        raise ConfigCheckError(f'{where}={value!r} must be finite')
    return float(value)


def _check_range(value: Any, where: str, low: float, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False) -> float:
    number = _number(value, where)
    if number < low or (low_open and number == low) or number > high or (
            high_open and number == high):
        interval = (('(' if low_open else '[') + f'{low:g}, {high:g}'
                    + (')' if high_open or high == math.inf else ']'))
        raise ConfigCheckError(f'{where}={value!r} must lie in {interval}')
    return number


def _check_numbers(node: Any, where: str) -> None:
    """Every real number anywhere inside ``node`` is finite."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            _check_numbers(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            _check_numbers(value, f'{where}.{index}')
    elif isinstance(node, Real) and not isinstance(node, bool):
        _number(node, where)


def _check_optimizer(optimizer: Mapping, where: str) -> None:
    _check_numbers(optimizer, where)
    if 'lr' in optimizer:
        lr = _check_range(optimizer['lr'], f'{where}.lr', 0.0, low_open=True)
        if lr > LARGE_LR:
            print_log(f'{where}.lr={lr:g} is unusually large; training stops at the first '
                      'non-finite loss', logger='current', level=logging.WARNING)
    if 'weight_decay' in optimizer:
        _check_range(optimizer['weight_decay'], f'{where}.weight_decay', 0.0)
    if 'momentum' in optimizer:
        _check_range(optimizer['momentum'], f'{where}.momentum', 0.0, 1.0)
    if 'eps' in optimizer:
        _check_range(optimizer['eps'], f'{where}.eps', 0.0, low_open=True)
    if 'betas' in optimizer:
        betas = optimizer['betas']
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise ConfigCheckError(f'{where}.betas={betas!r} must be a pair of numbers')
        for index, beta in enumerate(betas):
            _check_range(beta, f'{where}.betas.{index}', 0.0, 1.0, high_open=True)


def check_optimizer_hyper_parameters(cfg: Config) -> None:
    """Check the optimizer's and the learning-rate schedule's numbers.

    ``optim_wrapper.optimizer``: every number finite; ``lr`` > 0, ``weight_decay`` >= 0,
    ``momentum`` in [0, 1], ``eps`` > 0, ``betas`` in [0, 1). ``optim_wrapper`` (clip_grad,
    paramwise_cfg, ...) and ``param_scheduler``: every number finite; a scheduler's
    ``eta_min`` >= 0 and ``gamma`` > 0. With several optimizers (``optim_wrapper`` a dict of
    wrappers), each is checked.

    Args:
        cfg: The config.

    Raises:
        ConfigCheckError: Naming the key and value, e.g. ``optim_wrapper.optimizer.lr=inf``.
    """
    optim_wrapper = cfg.get('optim_wrapper') or {}
    wrappers = ({'optim_wrapper': optim_wrapper} if 'optimizer' in optim_wrapper else
                {f'optim_wrapper.{name}': wrapper for name, wrapper in optim_wrapper.items()
                 if isinstance(wrapper, Mapping) and 'optimizer' in wrapper})
    _check_numbers(optim_wrapper, 'optim_wrapper')
    for where, wrapper in wrappers.items():
        if isinstance(wrapper['optimizer'], Mapping):
            _check_optimizer(wrapper['optimizer'], f'{where}.optimizer')
    schedulers = cfg.get('param_scheduler') or []
    _check_numbers(schedulers, 'param_scheduler')
    if isinstance(schedulers, Mapping):
        schedulers = {'param_scheduler': schedulers}
    else:
        schedulers = {f'param_scheduler.{index}': scheduler
                      for index, scheduler in enumerate(schedulers)}
    for where, scheduler in schedulers.items():
        if not isinstance(scheduler, Mapping):
            continue
        if 'eta_min' in scheduler:
            _check_range(scheduler['eta_min'], f'{where}.eta_min', 0.0)
        if 'gamma' in scheduler:
            _check_range(scheduler['gamma'], f'{where}.gamma', 0.0, low_open=True)


def _hook_types(hooks: Iterable[Any]) -> Set[str]:
    """The type names of hook configs (classes by their name, scoped names without the
    scope: ``'mmmoco.RandomStateHook'`` -> ``'RandomStateHook'``)."""
    return {hook['type'].split('.')[-1] if isinstance(hook['type'], str) else
            hook['type'].__name__ for hook in hooks if isinstance(hook, Mapping) and 'type' in hook}


def check_training_hooks(cfg: Config) -> None:
    """Keep the momentum update of a momentum model, once; warn without RandomStateHook.

    Args:
        cfg: The config; the mmmoco modules must be registered.

    Raises:
        ConfigCheckError: For ``MomentumUpdateHook`` in ``custom_hooks``, or a momentum
            model whose ``default_hooks.momentum`` is turned off.
    """
    default_hooks = cfg.get('default_hooks') or {}
    custom = _hook_types(cfg.get('custom_hooks') or [])
    if 'MomentumUpdateHook' in custom:
        raise ConfigCheckError(
            'custom_hooks lists MomentumUpdateHook, which is a default hook of every run '
            '(default_hooks.momentum) and would then update the key encoder twice a step. '
            'Remove it from custom_hooks; the schedule is the model\'s: '
            'model.momentum=dict(start=0.999) (MoCo v3: dict(start=0.99, end=1.0))')
    model_type = (cfg.get('model') or {}).get('type')
    model_cls = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    hooks = _hook_types(default_hooks.values())
    if (isinstance(model_cls, type) and issubclass(model_cls, BaseMomentumModel)
            and 'MomentumUpdateHook' not in hooks):
        raise ConfigCheckError(
            f'default_hooks.momentum is {default_hooks.get("momentum")!r}: {model_cls.__name__} '
            'has a momentum (key) encoder that only MomentumUpdateHook moves, so it would stay '
            "at its initialisation. Keep default_hooks.momentum=dict(type='MomentumUpdateHook')")
    if 'RandomStateHook' not in hooks | custom:
        print_log('no RandomStateHook (default_hooks.random_state is off): a resumed run will '
                  "not be bit-identical; default_hooks.random_state=dict(type='RandomStateHook')"
                  ' restores it', logger='current', level=logging.WARNING)


def check_safe_types(cfg: Config) -> None:
    """Refuse mmengine's plain epoch loop and checkpoint hook in a MoCoRunner config.

    Args:
        cfg: The config.

    Raises:
        ConfigCheckError: Naming the key and the type to use.
    """
    if cfg.get('runner_type') not in ('MoCoRunner', 'mmmoco.MoCoRunner'):
        return
    try:
        refuse_plain_train_loop(cfg.get('train_cfg'))
        checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
        if checkpoint is not None:
            refuse_plain_checkpoint_hook(checkpoint)
        for index, hook in enumerate(cfg.get('custom_hooks') or []):
            refuse_plain_checkpoint_hook(hook, f'custom_hooks.{index}')
    except UnsafeTypeError as error:
        raise ConfigCheckError(str(error)) from None


def check_vis_backend_packages(cfg: Config) -> None:
    """Refuse a visualizer backend whose tracker package is not installed.

    Args:
        cfg: The config.

    Raises:
        ConfigCheckError: Naming the backend's key and the package to install.
    """
    backends = (cfg.get('visualizer') or {}).get('vis_backends') or []
    for index, backend in enumerate([backends] if isinstance(backends, Mapping) else backends):
        type_ = backend.get('type') if isinstance(backend, Mapping) else None
        if isinstance(type_, str):
            name = type_.rsplit('.', 1)[-1]  # 'WandbVisBackend' or 'mmengine.WandbVisBackend'
        else:
            name = getattr(type_, '__name__', '')  # the class itself
        package = VIS_BACKEND_PACKAGES.get(name)
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigCheckError(f'visualizer.vis_backends.{index} ({name}) needs the '
                                   f'{package} package, which is not installed: '
                                   f'pip install {package}')


def check_config(cfg: Config, cfg_options: Optional[Mapping[str, Any]] = None) -> None:
    """Run every start-up check of this module.

    Args:
        cfg: The final config (after ``--cfg-options``); the mmmoco modules must be
            registered.
        cfg_options: The ``--cfg-options`` dict, if any.

    Raises:
        ConfigCheckError: At the first problem found, naming the key.
    """
    check_top_level_keys(cfg, cfg_options)
    check_vis_backend_packages(cfg)
    check_hook_arguments(cfg)
    check_safe_types(cfg)
    check_training_hooks(cfg)
    check_optimizer_hyper_parameters(cfg)
    from mmmoco.apis.key_suggestions import check_constructor_keys  # it imports this module
    check_constructor_keys(cfg)
