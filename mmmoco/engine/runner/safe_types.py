"""The loop and checkpoint-hook types a MoCoRunner run requires, declared in the configs.

``configs/_base_/default_runtime.py`` declares ``AtomicCheckpointHook`` and the schedules
declare ``ExactResumeEpochBasedTrainLoop``. mmengine's plain types would silently bring back
delete-before-save checkpoint rotation and a resume that replays the interrupted epoch, so
they are refused, by ``tools/train.py``'s config checks before anything is built and by the
runner for configs built in Python.
"""
from typing import Any, Mapping

from mmengine.hooks import CheckpointHook
from mmengine.runner import EpochBasedTrainLoop

PLAIN_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook)
PLAIN_EPOCH_LOOPS = ('EpochBasedTrainLoop', 'mmengine.EpochBasedTrainLoop', EpochBasedTrainLoop)


class UnsafeTypeError(ValueError):
    """A config asks for an mmengine type that mmmoco replaces with a safe one."""


def refuse_plain_train_loop(train_cfg: Any, where: str = 'train_cfg') -> None:
    """Refuse mmengine's plain epoch loop (by type, or implied by ``by_epoch=True``).

    Args:
        train_cfg: The ``train_cfg`` dict (anything else is left to mmengine).
        where: The config key, for the message.

    Raises:
        UnsafeTypeError: Naming the key and the type to use.
    """
    if not isinstance(train_cfg, Mapping):
        return
    plain = train_cfg.get('type') in PLAIN_EPOCH_LOOPS or (
        'type' not in train_cfg and train_cfg.get('by_epoch', False))
    if plain:
        raise UnsafeTypeError(
            f"{where}: mmengine's EpochBasedTrainLoop replays an interrupted epoch on resume "
            "and trains on after a non-finite loss; write type='ExactResumeEpochBasedTrainLoop' "
            f'(the schedules in configs/_base_/schedules declare it), got {dict(train_cfg)}')


def refuse_plain_checkpoint_hook(hook: Any, where: str = 'default_hooks.checkpoint') -> None:
    """Refuse mmengine's CheckpointHook (deletes old checkpoints before the new one is saved).

    Args:
        hook: A hook config dict or a built hook.
        where: The config key, for the message.

    Raises:
        UnsafeTypeError: Naming the key and the type to use.
    """
    hook_type = hook.get('type') if isinstance(hook, Mapping) else type(hook)
    if hook_type in PLAIN_CHECKPOINT_HOOKS:
        raise UnsafeTypeError(
            f"{where}: mmengine's CheckpointHook deletes the oldest checkpoint before the new "
            "one is written; write type='AtomicCheckpointHook' (configs/_base_/"
            'default_runtime.py declares it)')
