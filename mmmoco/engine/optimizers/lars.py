"""LARS: SGD with momentum and a layer-wise trust ratio (You et al. 2017), as MoCo v3 uses it."""
from typing import Callable, Iterable, Optional

import torch

from mmmoco.registry import OPTIMIZERS
from mmmoco.utils.checks import check_non_negative


@OPTIMIZERS.register_module()
class LARS(torch.optim.Optimizer):
    """Layer-wise Adaptive Rate Scaling with heavy-ball momentum.

    For every matrix or convolution parameter ``p`` (``p.ndim > 1``) with gradient ``g``::

        d = g + weight_decay * p
        d = d * trust_coefficient * ||p|| / ||d||   (unless ||p|| or ||d|| is 0)

    Biases and normalisation weights (``p.ndim <= 1``) get neither weight decay nor the trust
    ratio: ``d = g``. Then ``mu = momentum * mu + d`` and ``p = p - lr * mu``. These are the
    rules of the MoCo v3 reference code (momentum 0.9, trust coefficient 0.001); the
    learning rate is set by the parameter schedulers as for any mmengine optimizer.

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate.
        momentum: Momentum factor.
        weight_decay: Weight decay of the parameters with ``ndim > 1``.
        trust_coefficient: The trust coefficient eta of the layer-wise ratio.

    Raises:
        ValueError: If a hyper-parameter is negative or not finite, or momentum >= 1.
    """

    def __init__(self, params: Iterable, lr: float = 0.0, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 0.001) -> None:
        defaults = dict(lr=check_non_negative(lr, 'LARS lr'),
                        momentum=check_non_negative(momentum, 'LARS momentum'),
                        weight_decay=check_non_negative(weight_decay, 'LARS weight_decay'),
                        trust_coefficient=check_non_negative(trust_coefficient,
                                                             'LARS trust_coefficient'))
        if defaults['momentum'] >= 1:
            raise ValueError(f'LARS momentum must be < 1, got {momentum}')
        super().__init__(params, defaults)

    @staticmethod
    def _direction(param: torch.Tensor, grad: torch.Tensor, weight_decay: float,
                   trust_coefficient: float) -> torch.Tensor:
        """The update direction of one parameter before momentum (see the class docstring)."""
        if param.ndim <= 1:
            return grad
        direction = grad.add(param, alpha=weight_decay)
        param_norm = torch.linalg.vector_norm(param)
        update_norm = torch.linalg.vector_norm(direction)
        ratio = torch.where((param_norm > 0) & (update_norm > 0),
                            trust_coefficient * param_norm / update_norm,
                            torch.ones_like(param_norm))
        return direction.mul(ratio)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        """Take one optimization step.

        Args:
            closure: Re-evaluates the model and returns the loss (optional).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group['params']:
                if param.grad is None:
                    continue
                direction = self._direction(param, param.grad, group['weight_decay'],
                                            group['trust_coefficient'])
                state = self.state[param]
                if 'momentum_buffer' not in state:
                    state['momentum_buffer'] = torch.zeros_like(param)
                buffer = state['momentum_buffer']
                buffer.mul_(group['momentum']).add_(direction)
                param.add_(buffer, alpha=-group['lr'])
        return loss
