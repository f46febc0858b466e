"""Seed the augmentation RNGs of a dataloader worker from torch's per-worker seed."""
import os
import random

import numpy as np
import torch

from mmmoco.registry import FUNCTIONS


@FUNCTIONS.register_module()
def worker_init_from_torch_seed(worker_id: int) -> None:
    """Seed ``np.random`` and ``random`` from ``torch.initial_seed()`` in a dataloader worker.

    torch gives each worker the seed ``base_seed + worker_id``, with ``base_seed`` drawn from
    the main process's torch RNG every epoch, so augmentations differ per worker and epoch and
    are fixed by the main-process torch RNG state (which checkpoints save). The process's
    ``RANK`` is mixed in, so ranks whose torch generators agree still augment differently.
    Use it as ``worker_init_fn=dict(type='mmmoco.worker_init_from_torch_seed')``.

    In training, mmmoco's datasets re-seed the generators for every sample from a seed the
    sampler gives (:mod:`mmmoco.datasets.sample_seeds`); this seeding then only matters for
    the other loaders (evaluation) and for datasets that take plain indices only.

    Args:
        worker_id: The worker index (already part of torch's per-worker seed).
    """
    rank = int(os.environ.get('RANK', 0))
    seed = np.random.SeedSequence([torch.initial_seed() % 2**63, rank])
    np.random.seed(seed.generate_state(1)[0])
    random.seed(int(seed.generate_state(2, np.uint64)[1]))
