"""Seed the augmentation RNGs of a dataloader worker from torch's per-worker seed."""
import random

import numpy as np
import torch

from mmmoco.registry import FUNCTIONS


@FUNCTIONS.register_module()
def worker_init_from_torch_seed(worker_id: int) -> None:
    """Seed ``np.random`` and ``random`` from ``torch.initial_seed()`` in a dataloader worker.

    torch gives each worker the seed ``base_seed + worker_id``, with ``base_seed`` drawn from
    the main process's torch RNG every epoch, so augmentations differ per worker and epoch and
    are fixed by the main-process torch RNG state (which checkpoints save). Use it as
    ``worker_init_fn=dict(type='worker_init_from_torch_seed')``.

    Args:
        worker_id: The worker index (already part of torch's per-worker seed).
    """
    seed = torch.initial_seed()
    np.random.seed(seed % 2**32)
    random.seed(seed)
