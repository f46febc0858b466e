"""Distributed helpers for MoCo: gathering keys and shuffling a batch across ranks.

All functions work on a single process too (they then act on the local tensor), and support
ranks holding batches of different sizes (a last partial batch), which a plain
``all_gather`` does not.
"""
from typing import List, Tuple

import torch
import torch.distributed as dist


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
    size = torch.tensor([local_size], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


@torch.no_grad()
def all_gather_batches(tensor: torch.Tensor) -> Tuple[torch.Tensor, List[int]]:
    """Concatenate every rank's batch along dim 0, in rank order (no gradient).

    Args:
        tensor: This rank's batch, of shape (n_rank, ...); n_rank may differ between ranks.

    Returns:
        The concatenated batch of shape (sum of n_rank, ...) and the list of per-rank sizes.
    """
    sizes = gather_batch_sizes(tensor.shape[0], tensor.device)
    if len(sizes) == 1:
        return tensor, sizes
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    gathered = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded.contiguous())
    return torch.cat([g[:n] for g, n in zip(gathered, sizes)], dim=0), sizes


def rank_offset(sizes: List[int]) -> int:
    """Index of this rank's first sample in the rank-ordered global batch.

    Args:
        sizes: Per-rank batch sizes in rank order.

    Returns:
        The number of samples held by lower ranks.
    """
    return sum(sizes[:get_rank()])


@torch.no_grad()
def shuffle_batch(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """Shuffle a batch across all ranks (the first half of Shuffle BN).

    Every rank receives as many samples as it sent, drawn from a global permutation that rank 0
    generates and broadcasts, so a rank's BN statistics come from other ranks' samples.

    Args:
        x: This rank's batch (n_rank, ...).

    Returns:
        This rank's share of the shuffled global batch, the global permutation, and the
        per-rank batch sizes (pass both to :func:`unshuffle_batch`).
    """
    gathered, sizes = all_gather_batches(x)
    perm = torch.randperm(gathered.shape[0], device=x.device)
    if is_distributed():
        dist.broadcast(perm, src=0)
    start = rank_offset(sizes)
    return gathered[perm[start:start + x.shape[0]]], perm, sizes


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
    gathered, _ = all_gather_batches(y)
    restored = torch.empty_like(gathered)
    restored[perm] = gathered
    start = rank_offset(sizes)
    return restored[start:start + y.shape[0]]

