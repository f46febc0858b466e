"""Stop training on non-finite losses, parameters or buffers (NaN / Inf), on every rank.

Under DDP the rank that sees a non-finite value is not the only one that must stop: the
others would wait for it in their next collective until the process group's timeout. So the
checks only find and describe the problem (:func:`nonfinite_output`,
:func:`nonfinite_parameter`); the ranks then agree, and every rank raises the same
:class:`NonFiniteError`, naming the rank that saw the problem first.
"""
from typing import Mapping, Optional, Tuple

import torch
from torch import nn

from mmmoco.utils.distributed import bare_model, first_report, is_distributed


#: What every non-finite message goes on to say.
ADVICE = ('training stopped before saving any checkpoint of these weights. Check the learning '
          'rate, temperature and loss settings; resume from the last checkpoint with finite '
          'weights (the runner names it) once fixed')


class NonFiniteError(RuntimeError):
    """Training produced a NaN or an infinity; raised before any checkpoint of it is written."""


def nonfinite_error(report: Tuple[int, str]) -> NonFiniteError:
    """The error every rank raises for a problem some rank reported.

    Args:
        report: ``(rank, message)`` of the first rank that saw a non-finite value.

    Returns:
        The error; its message names the rank under DDP.
    """
    rank, message = report
    return NonFiniteError(f'rank {rank}: {message}' if is_distributed() else message)


def nonfinite_output(outputs: Mapping, where: str) -> Optional[str]:
    """Describe the first tensor or number the train step reported (the losses) that is not
    finite.

    Args:
        outputs: The dict returned by ``train_step`` (log variables).
        where: The iteration, for the message.

    Returns:
        The message naming the value and ``where``, or None if all are finite.
    """
    if not isinstance(outputs, Mapping):
        return None
    for name, value in outputs.items():
        if not isinstance(value, (torch.Tensor, float, int)):
            continue
        value = torch.as_tensor(value).detach()
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            break
    else:
        return None
    return f'non-finite {name} ({value.float().mean().item()}) at {where}: {ADVICE}'


def nonfinite_parameter(model: nn.Module, where: str) -> Optional[str]:
    """Describe the first floating-point parameter or buffer of the model that is not finite.

    One device synchronisation for the whole model.

    Args:
        model: The model (a DDP wrapper is unwrapped).
        where: When the check runs (an iteration, or before which checkpoint), for the message.

    Returns:
        The message naming the tensor and ``where``, or None if all are finite.
    """
    model = bare_model(model)
    tensors = [(name, tensor) for name, tensor in model.state_dict(keep_vars=True).items()
               if tensor.is_floating_point()]
    if not tensors:
        return None
    flags = torch.stack([torch.isfinite(tensor.detach()).all() for _, tensor in tensors]).cpu()
    if bool(flags.all()):
        return None
    name = tensors[int((~flags).nonzero()[0])][0]
    return f'non-finite values in {name} at {where}: {ADVICE}'


def check_finite_parameters(model: nn.Module, where: str) -> None:
    """Require every floating-point parameter and buffer of the model to be finite on every
    rank (the buffers of BN layers differ between ranks).

    A collective under DDP: every rank must call it, and every rank raises if any rank finds a
    non-finite tensor.

    Args:
        model: The model (a DDP wrapper is unwrapped).
        where: When the check runs (an iteration, or before which checkpoint), for the message.

    Raises:
        NonFiniteError: On every rank, naming the first rank that saw a non-finite tensor, the
            tensor and ``where``.
    """
    report = first_report(nonfinite_parameter(model, where))
    if report is not None:
        raise nonfinite_error(report)
