"""Tests of worker_init_from_torch_seed."""
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mmmoco.datasets import worker_init_from_torch_seed
from mmmoco.registry import FUNCTIONS


def _draws_after_seeding(torch_seed):
    torch.manual_seed(torch_seed)
    worker_init_from_torch_seed(0)
    return np.random.rand(3).tolist(), random.random()


def test_same_torch_seed_gives_same_draws():
    assert _draws_after_seeding(7) == _draws_after_seeding(7)
    assert _draws_after_seeding(7) != _draws_after_seeding(8)


def test_registered_in_functions():
    assert FUNCTIONS.get('worker_init_from_torch_seed') is worker_init_from_torch_seed


class _NumpyDraws(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return np.random.rand()


def _epoch(loader):
    return [float(x) for batch in loader for x in batch]


def test_workers_differ_per_epoch_and_follow_main_torch_rng():
    loader = DataLoader(_NumpyDraws(), batch_size=1, num_workers=2,
                        worker_init_fn=worker_init_from_torch_seed)
    torch.manual_seed(0)
    first, second = _epoch(loader), _epoch(loader)
    torch.manual_seed(0)
    assert _epoch(loader) == first
    assert first != second
    assert first[0] != first[1]  # the two workers draw differently


def test_ranks_with_the_same_torch_seed_draw_differently(monkeypatch):
    monkeypatch.setenv('RANK', '0')
    rank0 = _draws_after_seeding(7)
    monkeypatch.setenv('RANK', '1')
    assert _draws_after_seeding(7) != rank0
