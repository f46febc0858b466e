"""Distributed helpers: agreeing on flags and reports across ranks; for MoCo, gathering keys
and shuffling a batch across ranks.

All functions work on a single process too (they then act on the local tensor), and support
ranks holding batches of different sizes (a last partial batch), which a plain
``all_gather`` does not. Batches of equal size (the usual case, ``drop_last=True``) are
gathered without padding, and Shuffle BN moves each sample once with ``all_to_all`` instead of
all-gathering the whole global batch on every rank.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from mmengine.model import is_model_wrapper
from torch import nn


def is_distributed() -> bool:
    """Whether a default process group with more than one rank is running.

    Returns:
        True under DDP with world size > 1.
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank (0 without a process group).

    Returns:
        The rank.
    """
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _communication_device() -> torch.device:
    """The device of the default group's small communication tensors (the GPU under NCCL).

    Returns:
        The device.
    """
    if dist.get_backend() == 'nccl':
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


@torch.no_grad()
def max_over_ranks(values: Sequence[int]) -> List[int]:
    """The element-wise maximum of small integers over all ranks, on every rank.

    One all-reduce of ``len(values)`` integers: cheap enough to agree on flags (stop
    requested, problem seen) every iteration. A collective: every rank must call it.

    Args:
        values: This rank's integers (e.g. 0/1 flags, a signal number).

    Returns:
        The maxima, in order (``values`` itself without a process group).
    """
    if not is_distributed():
        return [int(value) for value in values]
    tensor = torch.tensor([int(value) for value in values], dtype=torch.long,
                          device=_communication_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def first_report(report: Optional[str]) -> Optional[Tuple[int, str]]:
    """The report of the lowest rank that has one, known to every rank.

    A collective: every rank must call it. Costs one small all-reduce when no rank reports,
    plus a gather of the reports when one does.

    Args:
        report: This rank's report (e.g. an error message), or None.

    Returns:
        ``(rank, report)`` of the lowest reporting rank, or None if no rank reports.
    """
    if not max_over_ranks([report is not None])[0]:
        return None
    return gather_first_report(report)


def gather_first_report(report: Optional[str]) -> Tuple[int, str]:
    """The report of the lowest rank that has one, once the ranks know that some rank has one
    (e.g. from a flag in :func:`max_over_ranks`). A collective: every rank must call it.

    Args:
        report: This rank's report, or None.

    Returns:
        ``(rank, report)`` of the lowest reporting rank.
    """
    if not is_distributed():
        return 0, report
    reports: List[Optional[str]] = [None] * dist.get_world_size()
    dist.all_gather_object(reports, report)
    return next((rank, text) for rank, text in enumerate(reports) if text is not None)


@torch.no_grad()
def gather_batch_sizes(local_size: int, device: torch.device) -> List[int]:
    """Gather every rank's batch size.

    Args:
        local_size: This rank's batch size.
        device: Device of the communication tensor (the backend's device).

    Returns:
        The batch sizes of all ranks, in rank order.
    """
    if not is_distributed():
        return [local_size]
    sizes = torch.zeros(dist.get_world_size(), dtype=torch.long, device=device)
    dist.all_gather(list(sizes.chunk(len(sizes))),
                    torch.tensor([local_size], dtype=torch.long, device=device))
    return sizes.tolist()


@torch.no_grad()
def all_gather_batches(tensor: torch.Tensor, sizes: Optional[List[int]] = None
                       ) -> Tuple[torch.Tensor, List[int]]:
    """Concatenate every rank's batch along dim 0, in rank order (no gradient).

    Args:
        tensor: This rank's batch, of shape (n_rank, ...); n_rank may differ between ranks.
        sizes: Every rank's batch size if already known (e.g. from :func:`shuffle_batch`),
            which saves a collective; gathered otherwise.

    Returns:
        The concatenated batch of shape (sum of n_rank, ...) and the list of per-rank sizes.
    """
    if sizes is None:
        sizes = gather_batch_sizes(tensor.shape[0], tensor.device)
    if len(sizes) == 1:
        return tensor, sizes
    tensor = tensor.contiguous()
    if len(set(sizes)) == 1:  # equal sizes: gather straight into the result
        out = tensor.new_empty((sum(sizes), *tensor.shape[1:]))
        dist.all_gather(list(out.chunk(len(sizes))), tensor)
        return out, sizes
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    gathered = padded.new_empty((len(sizes) * max(sizes), *tensor.shape[1:]))
    dist.all_gather(list(gathered.chunk(len(sizes))), padded)
    keep = torch.cat([torch.arange(n, device=tensor.device) + r * max(sizes)
                      for r, n in enumerate(sizes)])
    return gathered[keep], sizes


def rank_offset(sizes: List[int]) -> int:
    """Index of this rank's first sample in the rank-ordered global batch.

    Args:
        sizes: Per-rank batch sizes in rank order.

    Returns:
        The number of samples held by lower ranks.
    """
    return sum(sizes[:get_rank()])


def _routes(perm: torch.Tensor, sizes: List[int]) -> Tuple[List[torch.Tensor], torch.Tensor,
                                                            List[int]]:
    """Which local samples go to which rank, and where received samples belong.

    Rank r's shuffled share is the global samples ``perm[offset_r:offset_r + n_r]``.

    Args:
        perm: The global permutation.
        sizes: Per-rank batch sizes in rank order.

    Returns:
        For each destination rank, the local indices this rank sends it (in the destination's
        share order); the positions in this rank's share of the samples it receives, grouped
        by source rank; and the number of samples received from each source rank.
    """
    offsets = torch.tensor([0] + sizes, device=perm.device).cumsum(0)
    owner = torch.bucketize(perm, offsets[1:], right=True)  # the rank holding each sample
    rank = get_rank()
    sends = []
    for dest, (start, size) in enumerate(zip(offsets[:-1].tolist(), sizes)):
        share = perm[start:start + size]
        sends.append(share[owner[start:start + size] == rank] - offsets[rank])
    start = int(offsets[rank])
    mine = owner[start:start + sizes[rank]]
    order = torch.argsort(mine, stable=True)
    counts = torch.bincount(mine, minlength=len(sizes)).tolist()
    return sends, order, counts


@torch.no_grad()
def shuffle_batch(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """Shuffle a batch across all ranks (the first half of Shuffle BN).

    Every rank receives as many samples as it sent, drawn from a global permutation that rank 0
    generates and broadcasts, so a rank's BN statistics come from other ranks' samples. Each
    sample travels once (``all_to_all``); batch sizes are gathered once here and reused by
    :func:`unshuffle_batch`.

    Args:
        x: This rank's batch (n_rank, ...).

    Returns:
        This rank's share of the shuffled global batch, the global permutation, and the
        per-rank batch sizes (pass both to :func:`unshuffle_batch`).
    """
    sizes = gather_batch_sizes(x.shape[0], x.device)
    perm = torch.randperm(sum(sizes), device=x.device)
    if len(sizes) == 1:
        return x[perm], perm, sizes
    dist.broadcast(perm, src=0)
    sends, order, counts = _routes(perm, sizes)
    received = x.new_empty((x.shape[0], *x.shape[1:]))
    dist.all_to_all_single(received, x[torch.cat(sends)].contiguous(), counts,
                           [len(s) for s in sends])
    shuffled = torch.empty_like(received)
    shuffled[order] = received
    return shuffled, perm, sizes


@torch.no_grad()
def unshuffle_batch(y: torch.Tensor, perm: torch.Tensor, sizes: List[int]) -> torch.Tensor:
    """Undo :func:`shuffle_batch` on outputs computed from the shuffled batch.

    Args:
        y: This rank's outputs for its shuffled share, (n_rank, ...).
        perm: The global permutation returned by :func:`shuffle_batch`.
        sizes: The per-rank batch sizes returned by :func:`shuffle_batch`.

    Returns:
        The outputs for this rank's original samples, in their original order.
    """
    if len(sizes) == 1:
        restored = torch.empty_like(y)
        restored[perm] = y
        return restored
    sends, order, counts = _routes(perm, sizes)
    received = y.new_empty((y.shape[0], *y.shape[1:]))
    dist.all_to_all_single(received, y[order].contiguous(), [len(s) for s in sends], counts)
    restored = torch.empty_like(received)
    restored[torch.cat(sends)] = received
    return restored


def bare_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP (or other mmengine) wrapper, or the model itself.

    Args:
        model: A runner's model, wrapped or not.

    Returns:
        The bare model (whose state dict keys have no ``module.`` prefix).
    """
    return model.module if is_model_wrapper(model) else model
