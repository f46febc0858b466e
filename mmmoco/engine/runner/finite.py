"""Stop training on non-finite losses, parameters or buffers (NaN / Inf)."""
from typing import Mapping

import torch
from torch import nn

from mmmoco.utils.distributed import bare_model


class NonFiniteError(RuntimeError):
    """Training produced a NaN or an infinity; raised before any checkpoint of it is written."""


def check_finite_outputs(outputs: Mapping, where: str) -> None:
    """Require every tensor or number the train step reported (the losses) to be finite.

    Args:
        outputs: The dict returned by ``train_step`` (log variables).
        where: The iteration, for the message.

    Raises:
        NonFiniteError: Naming the first non-finite value and ``where``.
    """
    if not isinstance(outputs, Mapping):
        return
    for name, value in outputs.items():
        if not isinstance(value, (torch.Tensor, float, int)):
            continue
        value = torch.as_tensor(value).detach()
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            break
    else:
        return
    raise NonFiniteError(
        f'non-finite {name} ({value.float().mean().item()}) '
        f'at {where}: training stopped before saving any checkpoint of these weights. Check the '
        'learning rate, temperature and loss settings; resume from the last checkpoint once '
        'fixed')


def check_finite_parameters(model: nn.Module, where: str) -> None:
    """Require every floating-point parameter and buffer of the model to be finite.

    One device synchronisation for the whole model.

    Args:
        model: The model (a DDP wrapper is unwrapped).
        where: When the check runs (an iteration, or before which checkpoint), for the message.

    Raises:
        NonFiniteError: Naming the first non-finite tensor and ``where``.
    """
    model = bare_model(model)
    tensors = [(name, tensor) for name, tensor in model.state_dict(keep_vars=True).items()
               if tensor.is_floating_point()]
    if not tensors:
        return
    flags = torch.stack([torch.isfinite(tensor.detach()).all() for _, tensor in tensors]).cpu()
    if bool(flags.all()):
        return
    name = tensors[int((~flags).nonzero()[0])][0]
    raise NonFiniteError(
        f'non-finite values in {name} at {where}: training stopped before saving any '
        'checkpoint of these weights. Check the learning rate, temperature and loss settings; '
        'resume from the last checkpoint once fixed')
