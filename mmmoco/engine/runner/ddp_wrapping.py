"""DDP wrapping without the warnings of mmengine's defaults on recent PyTorch.

- Buffers: mmengine builds DDP with ``broadcast_buffers=False`` (each rank keeps its own BN
  statistics; Shuffle BN needs that). PyTorch 2.13 deprecated the argument for
  ``forward_sync_buffers``; where the installed PyTorch has it, that is passed instead. The
  one difference: the buffers are also broadcast from rank 0 once when DDP is built, before
  any forward pass and before a checkpoint is loaded, when every rank holds the same
  initialisation anyway.
- channels_last: a 1x1 convolution weight is contiguous in both memory formats, so PyTorch
  keeps the channels_last gradient that a channels_last input gives it, whose strides differ
  from the weight's in the size-1 dimensions; DDP then copies it into its bucket with a "Grad
  strides do not match bucket view strides" warning. Giving those weights the channels_last
  strides (same memory, same values) makes the gradients match.
"""
import inspect
from typing import Optional

import torch
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmmoco.registry import MODEL_WRAPPERS

#: The argument of PyTorch's DDP that says whether buffers are synchronised in each forward.
BUFFER_SYNC_ARGS = ('forward_sync_buffers', 'broadcast_buffers')


def no_forward_buffer_sync() -> dict:
    """The DDP argument that keeps each rank's buffers its own during training.

    Returns:
        ``{'forward_sync_buffers': False}`` where the installed PyTorch has it, else
        ``{'broadcast_buffers': False}``.
    """
    parameters = inspect.signature(DistributedDataParallel.__init__).parameters
    name = BUFFER_SYNC_ARGS[0] if BUFFER_SYNC_ARGS[0] in parameters else BUFFER_SYNC_ARGS[1]
    return {name: False}


def ddp_wrapper_cfg(model_wrapper_cfg: Optional[dict], find_unused_parameters: bool) -> dict:
    """The model wrapper config of a distributed run, with the buffer argument filled in.

    Args:
        model_wrapper_cfg: The config's ``model_wrapper_cfg``, or None for mmengine's
            ``MMDistributedDataParallel``.
        find_unused_parameters: The config's ``find_unused_parameters`` (used when
            ``model_wrapper_cfg`` is None).

    Returns:
        A new config; an ``MMDistributedDataParallel`` (or subclass) that sets neither
        buffer argument gets :func:`no_forward_buffer_sync`, any other is returned as given.
    """
    cfg = dict(model_wrapper_cfg) if model_wrapper_cfg is not None else dict(
        type='MMDistributedDataParallel', find_unused_parameters=find_unused_parameters)
    wrapper = cfg.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper, str):
        wrapper = MODEL_WRAPPERS.get(wrapper)
    if (inspect.isclass(wrapper) and issubclass(wrapper, MMDistributedDataParallel)
            and not any(name in cfg for name in BUFFER_SYNC_ARGS)):
        cfg.update(no_forward_buffer_sync())
    return cfg


def channels_last_strides(shape: torch.Size) -> tuple:
    """The strides of a dense channels_last tensor of ``shape`` (4 dimensions)."""
    channels, height, width = shape[1:]
    return (channels * height * width, 1, width * channels, channels)


def match_channels_last_grad_layout_(model: nn.Module) -> int:
    """Give every 4-d parameter that is both contiguous and channels_last-contiguous (a 1x1
    convolution weight) the channels_last strides, in place.

    Only strides of size-1 dimensions change: the memory, the values and every other
    parameter stay as they are.

    Args:
        model: The model, before DDP wraps it.

    Returns:
        How many parameters were changed.
    """
    changed = 0
    for param in model.parameters():
        if param.dim() != 4 or not param.is_contiguous(memory_format=torch.channels_last):
            continue
        strides = channels_last_strides(param.shape)
        if param.stride() != strides:
            param.data = param.data.as_strided(param.shape, strides)
            changed += 1
    return changed


def uses_channels_last(model: nn.Module) -> bool:
    """Whether the model's data preprocessor hands it channels_last images.

    Args:
        model: A model, possibly wrapped.

    Returns:
        True if its ``data_preprocessor.memory_format`` is ``torch.channels_last``.
    """
    if is_model_wrapper(model):
        model = model.module
    preprocessor = getattr(model, 'data_preprocessor', None)
    return getattr(preprocessor, 'memory_format', None) == torch.channels_last


class DdpWrappingMixin:
    """Runner ``wrap_model`` that fills in the DDP buffer argument of the installed PyTorch
    and matches the gradient layout of 1x1 convolutions to channels_last inputs (see the
    module's docstring)."""

    def wrap_model(self, model_wrapper_cfg: Optional[dict], model: nn.Module) -> nn.Module:
        """Wrap the model for DDP as mmengine does, without its deprecated arguments.

        Args:
            model_wrapper_cfg: The ``model_wrapper_cfg`` of the config, or None.
            model: The model to wrap.

        Returns:
            The (possibly wrapped) model.
        """
        if self.distributed:
            model_wrapper_cfg = ddp_wrapper_cfg(
                model_wrapper_cfg, self.cfg.get('find_unused_parameters', False))
            if uses_channels_last(model):
                match_channels_last_grad_layout_(model)
        return super().wrap_model(model_wrapper_cfg, model)
