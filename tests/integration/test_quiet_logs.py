"""Issue 20, item 5: the demo recipe under 2-process gloo DDP (tools/dist_train.sh, bf16
autocast, channels_last), shrunk to the 20 real images, prints no start-up dump and no warning:
not mmengine's MKL_NUM_THREADS note per rank, not PyTorch's deprecated ``broadcast_buffers``,
not "Grad strides do not match bucket view strides", not the file-client deprecations."""
import os.path as osp

import pytest

from conftest import ROOT
from runs import run_command
from tiny_run import log_text, tiny_images  # noqa: F401

DEMO = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py')


@pytest.fixture(scope='module')
def demo_run(tiny_images, tmp_path_factory):  # noqa: F811
    """One epoch of the demo recipe, tiny, without its Fashion-MNIST kNN monitor.

    Returns:
        The console output (stdout and stderr) and the work dir.
    """
    folder = tmp_path_factory.mktemp('quiet_demo')
    config = folder / 'demo_tiny.py'
    config.write_text(f'_base_ = {DEMO!r}\ncustom_hooks = []\n')
    work_dir = str(folder / 'work')
    options = [
        f'train_dataloader.dataset.data_root={tiny_images}', 'train_dataloader.dataset.ann_file=',
        'train_dataloader.dataset.data_prefix=train', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.transforms.0.size=16',
        'model.backbone.base_channels=4', 'model.neck.in_channels=32',
        'model.neck.hidden_channels=32', 'model.queue.queue_len=16', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']
    out = run_command(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', work_dir,
                       '--cfg-options', *options], timeout=600)
    return out, work_dir


def test_demo_console_is_short_and_has_no_warning(demo_run):
    out, _ = demo_run
    assert 'Epoch(train) [1][5/5]' in out
    for noise in ('Warning', 'WARNING', 'MKL_NUM_THREADS', 'broadcast_buffers', 'Grad strides',
                  'System environment:', 'Config:', 'Hooks will be executed'):
        assert noise not in out, out
    assert 'MoCo: Shuffle BN across all ranks' in out
    assert 'mixed precision: bf16 autocast on CPU' in out
    lines = out.strip().splitlines()
    assert lines[-1].split(' - INFO - ')[-1].startswith('training done: work dir ')


def test_demo_log_file_keeps_the_environment_and_config(demo_run):
    log = log_text(demo_run[1])
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
    assert 'channels_last=True' in log and "type='AmpOptimWrapper'" in log
