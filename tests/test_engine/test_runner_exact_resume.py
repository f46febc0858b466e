"""Exact resume from iteration (mid-epoch) and epoch checkpoints, in one process.

Each run: 20 images, batch 4, 2 epochs = 10 iterations; an iteration checkpoint every 3
iterations (iter_3: 3 of the 5 batches of epoch 1 done; iter_6: 1 of epoch 2) and an epoch
checkpoint after each epoch. Resuming must give bit-identical weights, key encoder and queue
as the uninterrupted run, with 0 workers, 2 workers, and 2 persistent workers (which live
through the epochs of the uninterrupted run, while the resumed run starts new ones: exact
only because every sample is augmented from its own seed). Before the fix a resume from an
iteration checkpoint replayed the whole epoch (5 more steps instead of 4 from iter_6) and the
weights differed.
"""
import os.path as osp

import pytest

from tiny_run import assert_same_state, build_runner, model_state, tiny_config, tiny_images  # noqa: F401

# (num_workers, persistent_workers) of the uninterrupted runs
LOADERS = [(0, False), (2, False), (2, True)]


def _config(data_root: str, work_dir: str, num_workers: int, persistent: bool, **options):
    """Iteration checkpoints every 3 iterations plus epoch checkpoints, from one run."""
    cfg = tiny_config(data_root, work_dir, num_workers=num_workers, **options)
    cfg.train_dataloader.persistent_workers = persistent
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=3)
    cfg.custom_hooks = [*cfg.custom_hooks,
                        dict(type='AtomicCheckpointHook', by_epoch=True, interval=1)]
    return cfg


@pytest.fixture(scope='module')
def uninterrupted(tiny_images, tmp_path_factory):
    """The uninterrupted runs, by (number of data loader workers, persistence)."""
    runs = {}
    for num_workers, persistent in LOADERS:
        work_dir = str(tmp_path_factory.mktemp(f'uninterrupted{num_workers}{persistent}'))
        build_runner(_config(tiny_images, work_dir, num_workers, persistent)).train()
        runs[num_workers, persistent] = work_dir
    return runs


@pytest.mark.parametrize('num_workers,persistent,checkpoint,done', [
    (0, False, 'iter_6.pth', 6), (0, False, 'epoch_1.pth', 5), (2, False, 'iter_3.pth', 3),
    (2, True, 'epoch_1.pth', 5), (2, True, 'iter_6.pth', 6)])
def test_resume_is_bit_identical(uninterrupted, tiny_images, tmp_path, monkeypatch, num_workers,
                                 persistent, checkpoint, done):
    from mmmoco.datasets.image_folder import _ImageFileDataset
    loaded = []
    load = _ImageFileDataset._load
    monkeypatch.setattr(_ImageFileDataset, '_load',
                        lambda self, idx: loaded.append(idx) or load(self, idx))
    work_dir = uninterrupted[num_workers, persistent]
    cfg = _config(tiny_images, str(tmp_path), num_workers, persistent, resume=True,
                  load_from=osp.join(work_dir, checkpoint))
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 10
    assert_same_state(model_state(osp.join(work_dir, 'iter_10.pth')),
                      model_state(osp.join(str(tmp_path), 'iter_10.pth')))
    assert_same_state(model_state(osp.join(work_dir, 'epoch_2.pth')),
                      model_state(osp.join(str(tmp_path), 'epoch_2.pth')))
    # the resumed run trained only the remaining iterations
    saved = {name for name in ('iter_3.pth', 'iter_6.pth', 'iter_9.pth')
             if osp.exists(osp.join(str(tmp_path), name))}
    assert saved == {f'iter_{i}.pth' for i in (3, 6, 9) if i > done}
    if persistent:  # the pool of workers is shut down when training ends
        assert runner.train_dataloader._iterator is None
    if num_workers == 0:  # and loaded only their samples (the sampler skips the consumed)
        assert len(loaded) == 4 * (10 - done)


def test_multi_crop_with_batch_augments_resumes_bit_identically(tiny_images, tmp_path):
    """Symmetric loss with 2 global 16-px and 2 small 8-px views, colour augmentation on the
    batch: resuming from iteration 6 gives the uninterrupted run's weights, queue and
    augmentation state."""
    small = [dict(type='RandomResizedCrop', size=8, scale=(0.1, 0.4)),
             dict(type='RandomFlip', prob=0.5)]

    def config(work_dir, **extra):
        cfg = tiny_config(tiny_images, str(work_dir), **extra)
        cfg.model.symmetric = True
        cfg.model.data_preprocessor = dict(type='SelfSupDataPreprocessor', batch_augments=[
            dict(type='BatchColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
                 hue=0.1, prob=0.8),
            dict(type='BatchRandomGrayscale', prob=0.2)])
        multi_view = cfg.train_dataloader.dataset.pipeline[1]
        multi_view.num_views = [2, 2]
        multi_view.transforms = [[multi_view.transforms[0], dict(type='RandomFlip', prob=0.5)],
                                 small]
        cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False,
                                            interval=3)
        return cfg

    build_runner(config(tmp_path / 'full')).train()
    full = model_state(str(tmp_path / 'full' / 'iter_9.pth'))
    assert int(full['queue.ptr']) == (9 * 4 * 2) % 16  # both global keys enter the queue
    build_runner(config(tmp_path / 'resumed', resume=True,
                        load_from=str(tmp_path / 'full' / 'iter_6.pth'))).train()
    assert_same_state(full, model_state(str(tmp_path / 'resumed' / 'iter_9.pth')))
