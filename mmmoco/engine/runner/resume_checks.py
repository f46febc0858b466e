"""What a resumed checkpoint must agree on with the run that resumes it.

Every checkpoint records what its iteration counter means (``meta['train_position']``: the
number of processes, the batch size per process, the dataset length and the iterations per
epoch) and the config that defines what is trained (``meta['config_fingerprint']``: a hash
and the values of the training keys, without paths, the work dir, the launcher, the resume
keys, logging, checkpointing and evaluation settings). On resume:

- a changed length of training (``train_cfg.max_epochs``, a scheduler's ``end`` / ``T_max``)
  is applied and logged: the schedulers keep the values reached and take the new shape;
- any other change of the config is refused with the keys named.
  ``resume_allow_config_changes=True`` accepts changes of the model, the data and the
  schedule (logged, then built from the new config), never of the optimizer settings, which
  the optimizer state in the checkpoint would silently override;
- a changed position continues by images seen from the end of an epoch (the iteration
  counter and the iteration-based schedules are rescaled, with a warning) and is refused in
  the middle of an epoch, where the samples already seen cannot be mapped onto the new ones.
"""
import hashlib
import json
import logging
from typing import Any, Dict, List, Mapping, Optional

from mmengine.logging import print_log

#: The config key that accepts config changes on resume (not of the optimizer settings).
ALLOW_CHANGES_KEY = 'resume_allow_config_changes'

#: The recorded position: (meta key, name in messages).
POSITION_FIELDS = (('world_size', 'number of processes'),
                   ('batch_size', 'batch size per process'),
                   ('dataset_length', 'dataset length'),
                   ('iters_per_epoch', 'iterations per epoch'))

#: The top-level config keys that define what is trained.
TRAINING_KEYS = ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg', 'train_dataloader',
                 'auto_scale_lr', 'randomness', 'default_hooks', 'custom_hooks',
                 'model_wrapper_cfg', 'find_unused_parameters', 'sync_bn')

#: Dotted keys (and everything under them) inside :data:`TRAINING_KEYS` that do not change
#: what is trained: validation, loader speed, logging and checkpointing; the batch size is
#: part of the position, the seed is taken from the checkpoint.
UNTRAINED_KEYS = ('train_cfg.val_begin', 'train_cfg.val_interval',
                  'train_cfg.dynamic_intervals', 'train_cfg.finite_check_interval',
                  'train_dataloader.batch_size', 'train_dataloader.num_workers',
                  'train_dataloader.persistent_workers', 'train_dataloader.pin_memory',
                  'train_dataloader.prefetch_factor', 'randomness.seed',
                  'default_hooks.logger', 'default_hooks.checkpoint', 'default_hooks.timer',
                  'default_hooks.runtime_info', 'default_hooks.visualization')

#: Key names of paths and storage settings, left out wherever they are.
PATH_KEYS = frozenset({'data_root', 'ann_file', 'data_prefix', 'img_path', 'backend_args',
                       'file_client_args', 'pretrained', 'checkpoint', 'out_dir'})

#: Hooks that only observe training (evaluate, log, save), left out of ``custom_hooks``.
OBSERVING_HOOKS = frozenset({'KNNEvalHook', 'RankMeHook', 'AtomicCheckpointHook',
                             'CheckpointHook', 'LoggerHook', 'IterTimerHook',
                             'RuntimeInfoHook', 'PretrainedLoadedHook', 'EmptyCacheHook',
                             'ProfilerHook'})

#: How many changed keys a message lists.
LISTED = 12


class ResumeMismatchError(ValueError):
    """A checkpoint does not fit the run that resumes it; the message names what changed."""


def train_position(loader: Any, world_size: int) -> Dict[str, Optional[int]]:
    """What the iteration counter of a run means.

    Args:
        loader: The train dataloader.
        world_size: The number of processes.

    Returns:
        ``world_size``, ``batch_size`` (per process; None with a batch sampler),
        ``dataset_length`` and ``iters_per_epoch``.
    """
    return dict(world_size=world_size, batch_size=loader.batch_size,
                dataset_length=len(loader.dataset), iters_per_epoch=len(loader))


def _leaf(value: Any) -> str:
    """A stable text for a config value (classes and functions by their qualified name)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    if isinstance(value, type) or callable(value):
        return f'{getattr(value, "__module__", "")}.{getattr(value, "__qualname__", value)}'
    return type(value).__qualname__


def _hook_type(hook: Any) -> str:
    hook_type = hook.get('type') if isinstance(hook, Mapping) else type(hook)
    return hook_type.split('.')[-1] if isinstance(hook_type, str) else getattr(
        hook_type, '__name__', str(hook_type))


def _flatten(node: Any, key: str, out: Dict[str, str]) -> None:
    if key in UNTRAINED_KEYS:
        return
    if isinstance(node, Mapping):
        items = [(name, value) for name, value in node.items() if name not in PATH_KEYS]
    elif isinstance(node, (list, tuple)):
        items = list(enumerate(node))
    else:
        out[key] = _leaf(node)
        return
    if not items:
        out[key] = '{}' if isinstance(node, Mapping) else '[]'
    for name, value in items:
        _flatten(value, f'{key}.{name}', out)


def training_config_values(cfg: Mapping) -> Dict[str, str]:
    """The config values that define what is trained, by dotted key.

    Args:
        cfg: The run's config.

    Returns:
        ``{dotted key: value text}`` over :data:`TRAINING_KEYS`, without
        :data:`UNTRAINED_KEYS`, :data:`PATH_KEYS` and :data:`OBSERVING_HOOKS`.
    """
    values: Dict[str, str] = {}
    for key in TRAINING_KEYS:
        node = cfg.get(key)
        if key == 'custom_hooks' and isinstance(node, (list, tuple)):
            node = [hook for hook in node if _hook_type(hook) not in OBSERVING_HOOKS]
        if node is not None:
            _flatten(node, key, values)
    return values


def config_fingerprint(cfg: Mapping) -> Dict[str, Any]:
    """The record of a run's training config stored in its checkpoints.

    Args:
        cfg: The run's config.

    Returns:
        ``dict(sha256=..., values=...)`` (see :func:`training_config_values`).
    """
    values = training_config_values(cfg)
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    return dict(sha256=digest, values=values)


def is_optimizer_setting(key: str) -> bool:
    """Whether a config key is held by the optimizer state of a checkpoint.

    Args:
        key: A dotted config key.

    Returns:
        True under ``optim_wrapper[.NAME].optimizer``, ``optim_wrapper[.NAME].paramwise_cfg``
        and ``auto_scale_lr``.
    """
    parts = key.split('.')
    return parts[0] == 'auto_scale_lr' or (
        parts[0] == 'optim_wrapper' and bool({'optimizer', 'paramwise_cfg'} & set(parts[1:3])))


def is_schedule_length(key: str) -> bool:
    """Whether a config key sets the length of training or of a parameter scheduler.

    Args:
        key: A dotted config key.

    Returns:
        True for ``train_cfg.max_epochs`` and the ``end`` / ``T_max`` of a ``param_scheduler``.
    """
    return key == 'train_cfg.max_epochs' or (key.startswith('param_scheduler.')
                                             and key.rsplit('.', 1)[-1] in ('end', 'T_max'))


def _listed(lines: List[str]) -> str:
    more = len(lines) - LISTED
    return '\n  '.join(lines[:LISTED] + ([f'... and {more} more'] if more > 0 else []))


def check_config(filename: str, meta: Mapping, cfg: Mapping) -> None:
    """Compare the config a checkpoint was trained with to this run's.

    Accepted changes (``'key: old -> new'``) are logged as a warning: those of the length of
    training, and with ``resume_allow_config_changes`` any but the optimizer settings. A
    checkpoint without a record is not compared.

    Args:
        filename: The checkpoint, for messages.
        meta: Its ``meta``.
        cfg: This run's config.

    Raises:
        ResumeMismatchError: Naming the changed keys, for a change of the optimizer settings,
            or of anything but the length of training without
            ``resume_allow_config_changes``.
    """
    saved = meta.get('config_fingerprint')
    now = config_fingerprint(cfg)
    if not isinstance(saved, Mapping) or saved.get('sha256') == now['sha256']:
        return
    old, new = saved.get('values') or {}, now['values']
    keys = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    changes = [f'{key}: {old.get(key, "(unset)")} -> {new.get(key, "(unset)")}' for key in keys]
    optimizer = any(is_optimizer_setting(key) for key in keys)
    length_only = all(is_schedule_length(key) for key in keys)
    if length_only or (cfg.get(ALLOW_CHANGES_KEY, False) and not optimizer):
        what = ('another length of training' if length_only else
                f'a changed config ({ALLOW_CHANGES_KEY}=True)')
        print_log(f'resuming {filename} with {what}, built from this config (the schedulers '
                  'keep the values reached and continue on the new shape):\n  '
                  f'{_listed(changes)}', logger='current', level=logging.WARNING)
        return
    if optimizer:
        advice = ('the optimizer state in the checkpoint holds the optimizer settings (learning '
                  'rate, momentum, weight decay, parameter-wise settings), so a changed one '
                  'would be silently overridden. Resume with the values it was trained with, '
                  f'or start a new run from its weights: load_from={filename} in another '
                  '--work-dir')
    else:
        advice = ('resume with the config it was trained with, or accept the changes with '
                  f'--cfg-options {ALLOW_CHANGES_KEY}=True (the model, data and schedule are '
                  'then built from the new config)')
    raise ResumeMismatchError(
        f'cannot resume {filename}: the config differs from the one it was trained with:\n  '
        f'{_listed(changes)}\n{advice}')


def resume_iteration(filename: str, meta: Mapping, now: Mapping[str, Optional[int]]) -> int:
    """The iteration a resumed run continues at, by images seen.

    Args:
        filename: The checkpoint, for messages.
        meta: Its ``meta`` (``epoch``, ``iter`` and, if recorded, ``train_position``).
        now: This run's :func:`train_position`.

    Returns:
        ``meta['iter']`` if the position is unchanged; at the end of an epoch with a changed
        position, the same point in the new iterations (a warning says what changed).

    Raises:
        ResumeMismatchError: If the counters do not fit the iterations per epoch, or the
            position changed in the middle of an epoch; naming what changed.
    """
    epoch, iteration = meta['epoch'], meta['iter']
    saved = meta.get('train_position')
    saved = saved if isinstance(saved, Mapping) else None
    per_epoch = saved['iters_per_epoch'] if saved else now['iters_per_epoch']
    consumed = iteration - epoch * per_epoch
    if not 0 <= consumed <= per_epoch:
        cause = ('as recorded in it' if saved else
                 'of this run: the batch size, the number of processes or the dataset must '
                 'have changed since it was saved')
        raise ResumeMismatchError(
            f'cannot resume {filename}: its counters (epoch {epoch}, iteration {iteration}) do '
            f'not fit {per_epoch} iterations per epoch {cause}; resume with the settings it '
            'was trained with, or start a new run from its weights (load_from)')
    changes = [f'{name} {saved.get(key)} -> {now[key]}' for key, name in POSITION_FIELDS
               if saved and saved.get(key) != now[key]]
    if not changes:
        return iteration
    if 0 < consumed < per_epoch:
        raise ResumeMismatchError(
            f'cannot resume {filename}: it was saved in the middle of epoch {epoch + 1} '
            f'({consumed} of {per_epoch} iterations done) and since then '
            f'{", ".join(changes)}: the samples this epoch has seen cannot be mapped onto the '
            f'new ones. Resume from the checkpoint of epoch {epoch} (epoch_{epoch}.pth), or '
            'with the settings this one was saved with')
    resumed = (epoch + consumed // per_epoch) * now['iters_per_epoch']
    print_log(f'{filename}: {", ".join(changes)} since it was saved. It ends an epoch, so '
              f'training continues by images seen at the start of epoch '
              f'{epoch + consumed // per_epoch + 1}: iteration {iteration} becomes {resumed}, '
              'iteration-based schedules are rescaled and the learning rate continues from the '
              'checkpoint (not rescaled for a new total batch size); not bit-identical to an '
              'uninterrupted run', logger='current', level=logging.WARNING)
    return resumed


def check_epochs_left(filename: str, epoch: int, max_epochs: int) -> None:
    """Stop for a checkpoint trained beyond ``max_epochs``; say so when nothing is left to do.

    Args:
        filename: The checkpoint, for messages.
        epoch: Its epoch.
        max_epochs: This run's ``train_cfg.max_epochs``.

    Raises:
        ResumeMismatchError: If ``epoch > max_epochs``.
    """
    if epoch > max_epochs:
        raise ResumeMismatchError(
            f'cannot resume {filename}: it was trained for {epoch} epochs, more than this '
            f"run's train_cfg.max_epochs={max_epochs}; resume with max_epochs >= {epoch}, or "
            f'start a new run from its weights (load_from)')
    if epoch == max_epochs:
        print_log(f'{filename} is the end of training (epoch {epoch} of train_cfg.max_epochs='
                  f'{max_epochs}): the run is already complete, nothing to train',
                  logger='current', level=logging.WARNING)


#: Scheduler state entries that say how far a schedule has run; the others are its shape.
SCHEDULER_PROGRESS = ('base_values', 'last_step', '_global_step', '_last_value')


def steps_taken(global_step: int, begin: int, end: float) -> int:
    """An mmengine parameter scheduler's ``last_step`` after ``global_step`` steps.

    Args:
        global_step: Steps of the run (epochs or iterations).
        begin: The scheduler's first step.
        end: The scheduler's end (exclusive; may be infinite).

    Returns:
        -1 before ``begin``, then the steps since ``begin``, at most ``end - begin - 1``.
    """
    return -1 if global_step < begin else int(min(global_step - begin, end - begin - 1))


def rescaled_scheduler_state(saved: Mapping, built: Mapping, global_step: int,
                             where: str) -> dict:
    """A saved scheduler state continued with the shape of the scheduler this run built.

    The shape (``begin``, ``end``, ``T_max``, milestones, ...) comes from the run's config
    and its iterations per epoch, the values reached (learning rates) from the checkpoint;
    the step counters are set to ``global_step``.

    Args:
        saved: The state in the checkpoint.
        built: The state of the scheduler built by this run.
        global_step: The run's position in the scheduler's unit (epochs or iterations).
        where: The scheduler, for messages.

    Returns:
        ``saved`` itself when shape and position are unchanged, else the rescaled state.

    Raises:
        ResumeMismatchError: If the saved counters are not those of an mmengine scheduler.
    """
    shape = {key: value for key, value in built.items() if key not in SCHEDULER_PROGRESS}
    if saved.get('_global_step') == global_step and all(
            saved.get(key) == value for key, value in shape.items()):
        return dict(saved)
    if saved.get('last_step') != steps_taken(saved.get('_global_step', -2),
                                             saved.get('begin', 0), saved.get('end', 0)):
        raise ResumeMismatchError(
            f'cannot continue {where} with a new shape or position: its saved counters '
            f"(last_step={saved.get('last_step')}, _global_step={saved.get('_global_step')}) "
            "are not those of an mmengine parameter scheduler")
    return {**saved, **shape, '_global_step': global_step,
            'last_step': steps_taken(global_step, shape['begin'], shape['end'])}
