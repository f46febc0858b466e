"""Per-sample augmentation seeds (mmmoco.datasets.sample_seeds): a sample's augmentation
depends on (run seed, epoch, rank, position), not on the data loader worker that loads it.

The data: the 20 tiny sample images, the Fashion-MNIST recipe's MoCo v2 two-view pipeline.
"""
import copy
import random

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from mmmoco.datasets import ImageFolderDataset, SampleSeedSampler, sample_seeds
from mmmoco.datasets import seeded_generators, with_sample_seeds
from tiny_run import build_runner, log_text, tiny_config, tiny_images  # noqa: F401


@pytest.fixture(scope='module')
def loader_cfg(tiny_images, tmp_path_factory) -> dict:
    """The tiny run's train dataloader config, its sampler wrapped in SampleSeedSampler."""
    cfg = tiny_config(tiny_images, str(tmp_path_factory.mktemp('unused')))
    return with_sample_seeds(cfg.train_dataloader.to_dict())


def _epochs(cfg: dict, num_workers: int, persistent: bool, starts=(0, 0)) -> list:
    """The views of the batches of 2 epochs, ``starts[e]`` samples into epoch ``e``."""
    cfg = {**copy.deepcopy(cfg), 'num_workers': num_workers, 'persistent_workers': persistent}
    loader = Runner.build_dataloader(cfg, seed=0)
    views = []
    for epoch, start in enumerate(starts):
        loader.sampler.set_epoch(epoch, start=start)
        views.append([torch.stack(batch['inputs']) for batch in loader])
    return views


def test_augmentation_does_not_depend_on_workers(loader_cfg):
    in_main = _epochs(loader_cfg, 0, False)
    assert not torch.equal(in_main[0][0], in_main[1][0])  # the epochs augment differently
    for num_workers, persistent in [(2, False), (2, True)]:
        in_workers = _epochs(loader_cfg, num_workers, persistent)
        for main_epoch, worker_epoch in zip(in_main, in_workers):
            assert len(main_epoch) == len(worker_epoch) == 5
            for a, b in zip(main_epoch, worker_epoch):
                assert torch.equal(a, b)


def test_a_late_start_keeps_the_augmentation_of_the_rest(loader_cfg):
    whole = _epochs(loader_cfg, 0, False)
    # 2 batches into epoch 0, 3 into epoch 1 (a resume skips whole batches)
    rest = _epochs(loader_cfg, 2, True, starts=(8, 12))
    for full, later, skipped in zip(whole, rest, (2, 3)):
        assert len(later) == 5 - skipped
        for a, b in zip(full[skipped:], later):
            assert torch.equal(a, b)


def _items(monkeypatch, dataset, rank: int, epoch: int) -> list:
    """The items rank ``rank`` gets in ``epoch`` (unshuffled: the same indices on each)."""
    monkeypatch.setattr(sample_seeds, 'get_rank', lambda: rank)
    sampler = SampleSeedSampler(dict(type='DefaultSampler', shuffle=False), dataset, seed=0)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_seeds_differ_per_rank_and_epoch(loader_cfg, monkeypatch):
    dataset = ImageFolderDataset(**{k: v for k, v in loader_cfg['dataset'].items()
                                    if k != 'type'})
    items = {(rank, epoch): _items(monkeypatch, dataset, rank, epoch)
             for rank, epoch in [(0, 0), (1, 0), (0, 1)]}
    assert [item.index for item in items[0, 0]] == list(range(20))
    seeds = [item.seed for run in items.values() for item in run]
    assert len(set(seeds)) == 60
    # the same image (index 3) augments differently on another rank or in another epoch,
    # and identically for the same seed
    views = {key: torch.stack(dataset[run[3]]['inputs']) for key, run in items.items()}
    assert not torch.equal(views[0, 0], views[1, 0])
    assert not torch.equal(views[0, 0], views[0, 1])
    assert torch.equal(views[0, 0], torch.stack(dataset[items[0, 0][3]]['inputs']))


def test_seeded_generators_restore_the_process_generators():
    np.random.seed(1)
    random.seed(1)
    expected = np.random.rand(), random.random()
    np.random.seed(1)
    random.seed(1)
    with seeded_generators((0, 1, 2, 3)):
        inside = np.random.rand(), random.random()
    with seeded_generators((0, 1, 2, 3)):
        assert (np.random.rand(), random.random()) == inside
    assert (np.random.rand(), random.random()) == expected


def test_datasets_of_plain_indices_get_plain_indices():
    dataset = torch.utils.data.TensorDataset(torch.arange(6))
    sampler = SampleSeedSampler(dict(type='DefaultSampler', shuffle=False), dataset, seed=0)
    assert not sampler.seeded
    assert list(sampler) == list(range(6))
    sampler.set_epoch(1, start=4)
    assert list(sampler) == [4, 5]
    assert len(sampler) == 6


def test_only_plain_sampler_configs_are_wrapped():
    sampler = dict(type='DefaultSampler', shuffle=True)
    wrapped = with_sample_seeds(dict(batch_size=2, sampler=sampler))
    assert wrapped['sampler'] == dict(type='mmmoco.SampleSeedSampler', sampler=sampler)
    assert with_sample_seeds(wrapped) is wrapped
    batch_sampler = dict(batch_sampler=dict(type='AspectRatioBatchSampler'), sampler=sampler)
    assert with_sample_seeds(batch_sampler) is batch_sampler


def test_persistent_workers_warn_only_without_sample_seeds(tiny_images, tmp_path):
    seeded = tiny_config(tiny_images, str(tmp_path / 'seeded'), num_workers=2,
                         **{'train_dataloader.persistent_workers': True})
    runner = build_runner(seeded)
    assert runner.train_loop.seeded
    assert 'persistent_workers=True' not in log_text(str(tmp_path / 'seeded'))
    # mmengine's ConcatDataset takes plain indices only
    plain = tiny_config(tiny_images, str(tmp_path / 'plain'), num_workers=2,
                        **{'train_dataloader.persistent_workers': True})
    plain.train_dataloader.dataset = dict(type='ConcatDataset',
                                          datasets=[plain.train_dataloader.dataset])
    runner = build_runner(plain)
    assert not runner.train_loop.seeded
    assert ('persistent_workers=True, but the samples are not seeded one by one '
            '(ConcatDataset has no accepts_seeded_indices' in log_text(str(tmp_path / 'plain')))


def test_persistent_workers_are_dropped_without_workers(tiny_images, tmp_path):
    cfg = tiny_config(tiny_images, str(tmp_path), num_workers=0,
                      **{'train_dataloader.persistent_workers': True})
    assert build_runner(cfg).train_loop.dataloader.persistent_workers is False
