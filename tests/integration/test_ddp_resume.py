"""Exact resume under 2-process gloo DDP (tools/dist_train.sh on CPU), from an iteration
(mid-epoch) and an epoch checkpoint.

20 images, 2 processes x 2 images per batch: 5 iterations per epoch, 2 epochs. Iteration
checkpoints every 3 iterations (iter_3: mid-epoch 1) and epoch checkpoints. Each rank's
random state is stored in the checkpoint and given back to that rank, and the interrupted
epoch continues after the batches it had consumed, so the resumed runs end with the same
weights, key encoder and queue as the uninterrupted one.
"""
import os.path as osp

import pytest

from runs import run_command
from tiny_run import RECIPE, assert_same_state, model_state, tiny_images  # noqa: F401

LEAF = f"""_base_ = {RECIPE!r}
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=3, max_keep_ckpts=-1),
    logger=dict(interval=1))
custom_hooks = [
    dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=-1),
]
"""


def _dist_train(config: str, data_root: str, work_dir: str, *extra: str) -> str:
    options = [
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.dataset.ann_file=',
        'train_dataloader.dataset.data_prefix=train', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.transforms.0.size=16',
        'model.backbone.base_channels=4', 'model.neck.in_channels=32',
        'model.neck.hidden_channels=32', 'model.queue.queue_len=16', 'train_cfg.max_epochs=2',
        'param_scheduler.0.T_max=2', 'param_scheduler.0.end=2', 'randomness.seed=0']
    return run_command(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir,
                        *extra, '--cfg-options', *options], timeout=600)


@pytest.fixture(scope='module')
def ddp_run(tiny_images, tmp_path_factory):
    """The uninterrupted 2-process run and the config it used."""
    folder = tmp_path_factory.mktemp('ddp')
    config = str(folder / 'ddp_tiny.py')
    with open(config, 'w', encoding='utf-8') as f:
        f.write(LEAF)
    work_dir = str(folder / 'uninterrupted')
    out = _dist_train(config, tiny_images, work_dir)
    assert 'MoCo: Shuffle BN across all ranks' in out
    return config, work_dir


@pytest.mark.parametrize('checkpoint', ['iter_3.pth', 'epoch_1.pth'])
def test_ddp_resume_is_bit_identical(ddp_run, tiny_images, tmp_path, checkpoint):
    config, uninterrupted = ddp_run
    out = _dist_train(config, tiny_images, str(tmp_path), '--resume',
                      osp.join(uninterrupted, checkpoint))
    if checkpoint == 'iter_3.pth':
        assert 'resumed in the middle of epoch 1: skipped the 3 batches' in out
    for name in ('iter_10.pth', 'epoch_2.pth'):
        assert_same_state(model_state(osp.join(uninterrupted, name)),
                          model_state(osp.join(str(tmp_path), name)))
