"""Momentum (EMA) update of MoCo's key encoder, once per optimizer step."""
import math
from typing import Iterable, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import nn

from mmmoco.registry import HOOKS


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


def _check_momentum(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite number in [0, 1], else raise naming it.

    Args:
        value: The momentum.
        name: Its argument name, for the message.

    Returns:
        The momentum as a float.

    Raises:
        TypeError: If it is not a number.
        ValueError: If it is not finite or outside [0, 1].
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'MomentumUpdateHook {name} must be a number in [0, 1], got {value!r}')
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f'MomentumUpdateHook {name} must be a finite number in [0, 1], got '
                         f'{value}')
    return float(value)


@HOOKS.register_module()
class MomentumUpdateHook(Hook):
    """Move the key encoder towards the query encoder after each optimizer step.

    ``k <- m * k + (1 - m) * q`` with ``m = momentum`` (0.999 in MoCo v1/v2). With
    ``end_momentum`` set, m follows a half-cosine from ``momentum`` at the first step to
    ``end_momentum`` at the last (MoCo v3, BYOL):
    ``m_t = end - (end - m_0) * (cos(pi * t / T) + 1) / 2``, t the training progress in
    iterations. The model must provide ``momentum_pairs()``.

    Args:
        momentum: The momentum m (fraction of the key encoder kept), in [0, 1).
        end_momentum: Final momentum of the cosine schedule, or None for a constant momentum.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, momentum: float = 0.999, end_momentum: Optional[float] = None) -> None:
        self.momentum = _check_momentum(momentum, 'momentum')
        self.end_momentum = (None if end_momentum is None
                             else _check_momentum(end_momentum, 'end_momentum'))

    def current_momentum(self, iteration: int, max_iters: int) -> float:
        """Momentum for the step taken at ``iteration`` (0-based).

        Args:
            iteration: Index of the iteration that just ran.
            max_iters: Total number of training iterations.

        Returns:
            The momentum m.
        """
        if self.end_momentum is None:
            return self.momentum
        progress = min((iteration + 1) / max(max_iters, 1), 1.0)
        return self.end_momentum - (self.end_momentum - self.momentum) * (
            math.cos(math.pi * progress) + 1) / 2

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Update the key encoder if the optimizer stepped in this iteration.

        Args:
            runner: The mmengine runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        if not optimizer_stepped(runner.optim_wrapper):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        momentum = self.current_momentum(runner.iter, runner.max_iters)
        for online, target in model.momentum_pairs():
            momentum_update_(target, online, momentum)
        runner.message_hub.update_scalar('train/momentum', momentum)
