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

from runs import dist_train, uninterrupted_ddp_run, write_config
from tiny_run import assert_same_state, model_state, tiny_images  # noqa: F401


@pytest.mark.parametrize('checkpoint', ['iter_3.pth', 'epoch_1.pth'])
def test_ddp_resume_is_bit_identical(tiny_images, tmp_path_factory, tmp_path, checkpoint):
    uninterrupted = uninterrupted_ddp_run(tiny_images, tmp_path_factory)
    out = dist_train(write_config(str(tmp_path), 'ddp_tiny.py'), tiny_images,
                     str(tmp_path / 'work'), '--resume', osp.join(uninterrupted, checkpoint))
    if checkpoint == 'iter_3.pth':
        assert 'resumed in the middle of epoch 1: skipped the 3 batches' in out
    for name in ('iter_10.pth', 'epoch_2.pth'):
        assert_same_state(model_state(osp.join(uninterrupted, name)),
                          model_state(osp.join(str(tmp_path / 'work'), name)))
