"""Momentum (EMA) update of MoCo's key encoder, once per optimizer step."""
from typing import Iterable

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from torch import nn

from mmmoco.registry import HOOKS
from mmmoco.utils.distributed import bare_model


@torch.no_grad()
def momentum_update_(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """In place ``target <- momentum * target + (1 - momentum) * source`` for every parameter.

    Buffers (BN running statistics) are not touched: the key encoder's own forward passes in
    training mode keep them, as in the reference implementation.

    Args:
        target: The momentum (key) module.
        source: The online (query) module with the same parameter layout.
        momentum: Fraction of the target kept; 0.999 keeps 99.9% of the key encoder.
    """
    target_params = list(target.parameters())
    source_params = list(source.parameters())
    if len(target_params) != len(source_params):
        raise ValueError('momentum_update_: target and source have different parameters')
    torch._foreach_lerp_(target_params, [p.detach() for p in source_params], 1.0 - momentum)


def optimizer_stepped(optim_wrapper) -> bool:
    """Whether the optimizer wrapper stepped in the iteration that just ran.

    Under gradient accumulation (``accumulative_counts`` > 1) only every n-th micro-batch
    (and the last of training) steps; ``should_update`` tells, once ``update_params`` has
    counted the micro-batch.

    Args:
        optim_wrapper: An mmengine ``OptimWrapper`` or ``OptimWrapperDict``.

    Returns:
        True if the parameters were updated in this iteration.
    """
    wrappers: Iterable = (optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict)
                          else [optim_wrapper])
    return any(w.should_update() for w in wrappers)


@HOOKS.register_module()
class MomentumUpdateHook(Hook):
    """Move a momentum model's copies towards its online modules after each optimizer step.

    ``k <- m * k + (1 - m) * q`` for every (online, momentum) pair of ``model.momentum_pairs()``,
    with m from the model's own schedule (``model.momentum_schedule``: ``model.momentum=dict(
    start=..., end=...)`` in the config). A default hook of every run
    (``default_hooks.momentum`` in ``configs/_base_/default_runtime.py``); for a model without a
    momentum schedule (a classifier, a linear probe) it does nothing. The momentum is logged
    as ``momentum``.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, **removed) -> None:
        if removed:
            raise TypeError(
                f'MomentumUpdateHook{tuple(removed)} takes no arguments any more: the model owns '
                'its momentum. Write model.momentum=dict(start=0.999) (MoCo v3: dict(start=0.99, '
                'end=1.0)) instead of MomentumUpdateHook(momentum=..., end_momentum=...)')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Update the momentum copies if the optimizer stepped in this iteration.

        Args:
            runner: The mmengine runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        model = bare_model(runner.model)
        schedule = getattr(model, 'momentum_schedule', None)
        if schedule is None or not optimizer_stepped(runner.optim_wrapper):
            return
        momentum = schedule.at(runner.iter, runner.max_iters)
        for online, target in model.momentum_pairs():
            momentum_update_(target, online, momentum)
        runner.message_hub.update_scalar('train/momentum', momentum)
