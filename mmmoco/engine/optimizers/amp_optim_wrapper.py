"""Mixed-precision optimizer wrapper that also runs on CPU.

mmengine's ``AmpOptimWrapper`` asserts a GPU (or NPU/MLU/MUSA) in its constructor and always
builds a CUDA ``GradScaler``, so ``--amp`` and ``optim_wrapper=dict(type='AmpOptimWrapper')``
could not train on CPU. This wrapper picks the autocast device from the parameters it
optimizes: on CUDA it behaves like mmengine's (fp16 autocast, dynamic loss scaling), on CPU it
autocasts to bfloat16, which has float32's exponent range and needs no loss scaling.
"""
import logging
from contextlib import contextmanager
from typing import Iterator, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from torch import nn

from mmmoco.registry import OPTIM_WRAPPERS

#: Autocast precision when ``dtype`` is not given, per device type.
DEFAULT_DTYPES = {'cuda': torch.float16, 'cpu': torch.bfloat16}

#: Precisions a config may name.
VALID_DTYPES = ('float16', 'bfloat16')


def _device_type(optimizer: torch.optim.Optimizer) -> str:
    """The device type of the optimized parameters ('cuda', 'cpu', ...)."""
    for group in optimizer.param_groups:
        for param in group['params']:
            return param.device.type
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def _cast_dtype(dtype: Union[str, torch.dtype, None], device_type: str) -> torch.dtype:
    if dtype is None:
        return DEFAULT_DTYPES.get(device_type, torch.float16)
    if isinstance(dtype, str) and dtype in VALID_DTYPES:
        return getattr(torch, dtype)
    if dtype in (torch.float16, torch.bfloat16):
        return dtype
    raise ValueError(f'optim_wrapper.dtype={dtype!r} must be one of {VALID_DTYPES} or None '
                     f'(float16 on CUDA, bfloat16 on CPU)')


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(OptimWrapper):
    """Automatic mixed precision on CUDA and CPU.

    The forward pass of each step (:meth:`optim_context`) runs under ``torch.autocast`` for
    the device the parameters live on. With float16 the loss is scaled by a
    ``torch.amp.GradScaler`` (dynamic by default; steps whose gradients overflow are skipped
    and the scale lowered) and the scaler's state is saved in checkpoints; with bfloat16
    (the CPU default) no scaling is needed and none is done.

    Args:
        loss_scale: ``'dynamic'``, a float (a fixed scale) or a dict of ``GradScaler``
            arguments; used with float16 only.
        dtype: ``'float16'``, ``'bfloat16'`` (or the torch dtypes), or None for the device's
            default: float16 on CUDA, bfloat16 on CPU.
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).

    Raises:
        ValueError: If ``dtype`` or ``loss_scale`` is not one of the forms above.
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = _device_type(self.optimizer)
        self.cast_dtype = _cast_dtype(dtype, self.device_type)
        self._fixed_scale: Optional[float] = None
        self.loss_scaler: Optional[torch.amp.GradScaler] = None
        if self.cast_dtype == torch.float16:
            self.loss_scaler = self._build_scaler(loss_scale)
        elif loss_scale != 'dynamic':
            print_log(f'optim_wrapper.loss_scale={loss_scale!r} is not used: {self.cast_dtype} '
                      'needs no loss scaling', logger='current', level=logging.WARNING)
        print_log(f'mixed precision: {self.precision_summary()}', logger='current')

    def precision_summary(self) -> str:
        """What this wrapper turned on, for the log.

        Returns:
            E.g. ``'bf16 autocast on CPU'`` or ``'fp16 with dynamic loss scaling on CUDA'``.
        """
        device = self.device_type.upper()
        if self.loss_scaler is None:
            return f'bf16 autocast on {device}'
        if self._fixed_scale is not None:
            return f'fp16 with a fixed loss scale of {self._fixed_scale:g} on {device}'
        return f'fp16 with dynamic loss scaling on {device}'

    def _build_scaler(self, loss_scale: Union[str, float, dict]) -> torch.amp.GradScaler:
        if loss_scale == 'dynamic':
            return torch.amp.GradScaler(self.device_type)
        if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
            self._fixed_scale = float(loss_scale)
            return torch.amp.GradScaler(self.device_type, init_scale=self._fixed_scale)
        if isinstance(loss_scale, dict):
            return torch.amp.GradScaler(self.device_type, **loss_scale)
        raise ValueError(f"optim_wrapper.loss_scale={loss_scale!r} must be 'dynamic', a number "
                         'or a dict of torch.amp.GradScaler arguments')

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """Back-propagate the (scaled, with float16) loss.

        Args:
            loss: The loss of the current iteration.
            **kwargs: Passed to :meth:`torch.Tensor.backward`.
        """
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        """Clip the gradients if configured (unscaled first), step, update the loss scale.

        Args:
            **kwargs: Passed to :meth:`torch.optim.Optimizer.step`.
        """
        if self.loss_scaler is None:
            super().step(**kwargs)
            return
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._fixed_scale)

    def state_dict(self) -> dict:
        """The optimizer's state, plus the loss scaler's under ``loss_scaler`` (float16).

        Returns:
            The state dict.
        """
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Load the optimizer's state and, with float16, the loss scaler's.

        A scaler state from a float16 run resumed in bfloat16 (e.g. on CPU) is dropped
        with a warning.

        Args:
            state_dict: A state dict from :meth:`state_dict` (or from a plain
                ``OptimWrapper``).
        """
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None:
            if self.loss_scaler is not None:
                self.loss_scaler.load_state_dict(scaler_state)
            else:
                print_log(f'the checkpoint holds a loss-scaler state, not used with '
                          f'{self.cast_dtype} autocast', logger='current',
                          level=logging.WARNING)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """The forward pass of a step: gradient-accumulation context plus autocast.

        Args:
            model: The trained model.

        Yields:
            Nothing; the body runs under ``torch.autocast``.
        """
        with super().optim_context(model), torch.autocast(self.device_type,
                                                          dtype=self.cast_dtype):
            yield
