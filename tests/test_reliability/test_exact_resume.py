"""Exact resume from iteration (mid-epoch) and epoch checkpoints, in one process.

Each run: 20 images, batch 4, 2 epochs = 10 iterations; an iteration checkpoint every 3
iterations (iter_3: 3 of the 5 batches of epoch 1 done; iter_6: 1 of epoch 2) and an epoch
checkpoint after each epoch. Resuming must give bit-identical weights, key encoder and queue
as the uninterrupted run. Before the fix a resume from an iteration checkpoint replayed the
whole epoch (5 more steps instead of 4 from iter_6) and the weights differed.
"""
import os.path as osp

import pytest

from tiny_run import assert_same_state, build_runner, model_state, tiny_config, tiny_images  # noqa: F401


def _config(data_root: str, work_dir: str, num_workers: int, **options):
    """Iteration checkpoints every 3 iterations plus epoch checkpoints, from one run."""
    cfg = tiny_config(data_root, work_dir, num_workers=num_workers, **options)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=3)
    cfg.custom_hooks = [*cfg.custom_hooks,
                        dict(type='AtomicCheckpointHook', by_epoch=True, interval=1)]
    return cfg


@pytest.fixture(scope='module')
def uninterrupted(tiny_images, tmp_path_factory):
    """The uninterrupted runs, by number of data loader workers."""
    runs = {}
    for num_workers in (0, 2):
        work_dir = str(tmp_path_factory.mktemp(f'uninterrupted{num_workers}'))
        build_runner(_config(tiny_images, work_dir, num_workers)).train()
        runs[num_workers] = work_dir
    return runs


@pytest.mark.parametrize('num_workers,checkpoint,done', [
    (0, 'iter_6.pth', 6), (0, 'epoch_1.pth', 5), (2, 'iter_3.pth', 3)])
def test_resume_is_bit_identical(uninterrupted, tiny_images, tmp_path, num_workers, checkpoint,
                                 done):
    work_dir = uninterrupted[num_workers]
    cfg = _config(tiny_images, str(tmp_path), num_workers, resume=True,
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
