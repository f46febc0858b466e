"""Issue 9, item 6 (run-time part) and the momentum-hook guard: mistakes stop the run at
start-up, before any training step, with one message naming the key or the dataset. (Config
key typos and ``--cfg-options`` without '=': test_config_checks.py; unreadable checkpoint
files: test_runner_checkpoint_safety.py.)

Before the fix a batch size larger than the dataset failed with mmengine's "epoch_length must
be a positive integer", ``queue_len='abc'`` with a TypeError from a comparison, a ``feat_dim``
that differs from the neck's output at the first matmul, and a momentum model without
MomentumUpdateHook trained with a key encoder that never moved (now a default hook whose
removal tools/train.py refuses).
"""
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from tiny_run import RECIPE, build_runner, tiny_config, tiny_images  # noqa: F401


def test_batch_larger_than_the_dataset_names_dataset_size_and_batch(tiny_images, tmp_path):
    runner = build_runner(tiny_config(tiny_images, str(tmp_path), batch_size=32))
    with pytest.raises(ValueError, match=r'train_dataloader yields no batch: its dataset '
                                         r'\(ImageFolderDataset\) has 20 samples, batch_size=32, '
                                         r'drop_last=True'):
        runner.train()


@pytest.mark.parametrize('options, message', [
    ({'model.queue.queue_len': 'abc'}, r"queue queue_len must be an int >= 1, got 'abc'"),
    ({'model.queue.feat_dim': 64},
     r'model\.queue\.feat_dim=64 must equal model\.neck\.out_channels=128'),
    ({'model.head.feat_dim': 128}, r'model\.queue=dict\(type=.KeyQueue., feat_dim=\.\.\.'),
])
def test_model_settings_are_checked_at_build(tiny_images, tmp_path, options, message):
    cfg = tiny_config(tiny_images, str(tmp_path), **options)
    with pytest.raises((TypeError, ValueError), match=message):
        build_runner(cfg)


def _last_error_line(work_dir, option: str) -> str:
    """Run tools/train.py on the recipe with one --cfg-options entry that must fail; return
    the last line it printed to stderr."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, 'tools/train.py', RECIPE, '--work-dir', str(work_dir),
         '--cfg-options', option],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


def test_queue_len_typo_from_the_command_line_names_the_key(tmp_path):
    """Through tools/train.py: the last line names the key and the value."""
    last = _last_error_line(tmp_path, 'model.queue.queue_len=abc')
    assert "queue queue_len must be an int >= 1, got 'abc'" in last, last


def test_plain_mmengine_loop_and_checkpoint_hook_are_refused_by_the_runner(tiny_images,
                                                                         tmp_path):
    """Configs built in Python (no tools/train.py checks) meet the same rule in the runner."""
    from mmmoco.engine.runner.safe_types import UnsafeTypeError
    cfg = tiny_config(tiny_images, str(tmp_path))
    cfg.train_cfg.type = 'EpochBasedTrainLoop'
    with pytest.raises(UnsafeTypeError, match="write type='ExactResumeEpochBasedTrainLoop'"):
        build_runner(cfg).train()
    cfg = tiny_config(tiny_images, str(tmp_path))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    with pytest.raises(UnsafeTypeError, match="write type='AtomicCheckpointHook'"):
        build_runner(cfg)
    assert not any(name.endswith('.pth') for name in os.listdir(tmp_path))


def test_momentum_hook_turned_off_refuses_to_start(tmp_path):
    """Through tools/train.py: default_hooks.momentum=None on a MoCo recipe stops at start-up."""
    last = _last_error_line(tmp_path, 'default_hooks.momentum=None')
    assert 'default_hooks.momentum is None: MoCo has a momentum (key) encoder' in last, last
    assert not any(name.endswith('.pth') for name in os.listdir(tmp_path))


def test_top_level_sync_bn_with_shuffle_bn_is_refused(tiny_images, tmp_path):
    """mmengine would turn the key encoder's BN into SyncBN under DDP after MoCo's own check,
    silently undoing Shuffle BN."""
    cfg = tiny_config(tiny_images, str(tmp_path), sync_bn='torch')
    with pytest.raises(ValueError, match=r"sync_bn='torch' turns every BN layer into SyncBN .* "
                                         r'undoes Shuffle BN'):
        build_runner(cfg)
    build_runner(tiny_config(tiny_images, str(tmp_path / 'plain'), sync_bn='torch',
                             **{'model.shuffle_bn': False}))
