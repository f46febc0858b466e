"""End to end: tools/train.py and tools/dist_train.sh on real ImageNet images.

The recipes are the real ImageNet configs; only sizes are shrunk on the command line
(64-px crops, 4 images per batch, a short queue) so a run takes seconds on 2 CPU cores.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, fashion_mnist_slice
from tiny_run import log_text
from mmmoco.utils import load_checkpoint_file

CONFIG = osp.join(ROOT, 'configs', 'mocov2_r50_8xb32-coslr-200e_in1k.py')


def tiny_options(data_root: str, batch_size: int = 4, epochs: int = 2, queue_len: int = 16):
    """--cfg-options that shrink the ImageNet recipe to a few seconds of CPU work."""
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            f'train_dataloader.batch_size={batch_size}', 'train_dataloader.num_workers=0',
            'train_dataloader.pin_memory=False', f'train_cfg.max_epochs={epochs}',
            f'model.queue.queue_len={queue_len}', 'model.single_device_bn_splits=2',
            'train_dataloader.dataset.pipeline.1.transforms.0.size=64',
            'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']


def run(cmd, **kwargs) -> str:
    """Run a command, fail the test with its output if it fails, return its output."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', PYTHON=sys.executable)
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                            **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


def state(path: str) -> dict:
    return load_checkpoint_file(path)['state_dict']


@pytest.fixture(scope='module')
def two_epoch_run(sample_imagenet, tmp_path_factory) -> str:
    """Two epochs (10 iterations) of MoCo v2 R50, checkpoint after each epoch."""
    work_dir = str(tmp_path_factory.mktemp('train'))
    run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
         *tiny_options(sample_imagenet)])
    return work_dir


def test_training_changes_parameters_with_finite_loss(two_epoch_run):
    first = load_checkpoint_file(osp.join(two_epoch_run, 'epoch_1.pth'))
    second = load_checkpoint_file(osp.join(two_epoch_run, 'epoch_2.pth'))
    loss = second['message_hub']['log_scalars']['train/loss'].current()
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    a, b = first['state_dict'], second['state_dict']
    assert not torch.equal(a['backbone.conv1.weight'], b['backbone.conv1.weight'])
    assert not torch.equal(a['momentum_backbone.conv1.weight'], b['momentum_backbone.conv1.weight'])
    # the key encoder trails the query encoder: k = 0.999 k + 0.001 q each step
    assert not torch.equal(b['backbone.conv1.weight'], b['momentum_backbone.conv1.weight'])
    # 5 iterations of 4 keys per epoch in a queue of 16: pointer at 20 % 16, then 40 % 16
    assert int(a['queue.ptr']) == 4 and int(b['queue.ptr']) == 8
    assert second['meta']['epoch'] == 2 and second['meta']['iter'] == 10


def test_resume_gives_the_same_weights_and_queue(two_epoch_run, sample_imagenet, tmp_path):
    resume_dir = str(tmp_path)
    out = run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', resume_dir,
               '--resume', osp.join(two_epoch_run, 'epoch_1.pth'),
               *tiny_options(sample_imagenet)])
    assert 'resumed epoch: 1, iter: 5' in out
    assert 'Shuffle BN emulated on one device with split BN (2 sub-batches)' in out
    uninterrupted = state(osp.join(two_epoch_run, 'epoch_2.pth'))
    resumed = state(osp.join(resume_dir, 'epoch_2.pth'))
    assert uninterrupted.keys() == resumed.keys()
    for key in uninterrupted:
        assert torch.equal(uninterrupted[key], resumed[key]), key


def test_resume_with_a_changed_learning_rate_exits_with_a_message(two_epoch_run,
                                                                  sample_imagenet, tmp_path):
    """A checkpoint that does not fit the run: one line naming the change, no traceback,
    nothing written."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path),
         '--resume', osp.join(two_epoch_run, 'epoch_1.pth'), *tiny_options(sample_imagenet),
         'optim_wrapper.optimizer.lr=0.5'],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr[-3000:]
    assert 'cannot resume' in result.stderr and 'optim_wrapper.optimizer.lr' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.pth')]


def test_dist_train_two_gloo_processes_share_the_queue(sample_imagenet, tmp_path):
    """2-process DDP on CPU through dist_train.sh, with Shuffle BN across the ranks."""
    out = run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path),
               *tiny_options(sample_imagenet, batch_size=2, epochs=1, queue_len=64)],
              timeout=900)
    log = log_text(str(tmp_path))  # the environment dump goes to the log file only
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
    assert 'MoCo: Shuffle BN across all ranks' in out
    ckpt = load_checkpoint_file(osp.join(str(tmp_path), 'epoch_1.pth'))
    # 20 images / 2 ranks / 2 per batch = 5 steps; each step enqueues 2 keys from each rank
    assert int(ckpt['state_dict']['queue.ptr']) == 20
    assert ckpt['meta']['iter'] == 5


def test_small_data_recipe_trains_on_real_fashion_mnist(tmp_path):
    """The 2-core recipe on a slice of the real Fashion-MNIST (Debian package files)."""
    data = fashion_mnist_slice(str(tmp_path / 'fmnist'), 8, 1)
    config = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')
    run([sys.executable, 'tools/train.py', config, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options', f'train_dataloader.dataset.data_root={data}',
         'train_dataloader.batch_size=16', 'train_dataloader.num_workers=2',
         'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1'])
    ckpt = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_1.pth'))
    # 80 images / 16 per batch = 5 steps of 16 keys
    assert int(ckpt['state_dict']['queue.ptr']) == 80
    assert torch.isfinite(torch.tensor(
        ckpt['message_hub']['log_scalars']['train/loss'].current()))


def test_knn_eval_of_a_pretraining_checkpoint(sample_imagenet, two_epoch_run, tmp_path):
    """knn_eval.sh loads the R50 backbone of a training checkpoint strictly and reports."""
    config = osp.join(ROOT, 'configs', 'benchmarks', 'knn', 'resnet50_knn_imagenet.py')
    loader = ['data_root=' + sample_imagenet, 'data_prefix=train', 'ann_file=meta/train.txt']
    options = ['--cfg-options', 'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
               'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10',
               *[f'{split}_dataloader.dataset.{kv}' for split in ('train', 'val')
                 for kv in loader],
               *[f'{split}_dataloader.dataset.pipeline.{i}.size={s}'
                 for split in ('train', 'val') for i, s in ((1, 72), (2, 64))]]
    out = run(['bash', 'tools/benchmarks/knn_eval.sh', config,
               osp.join(two_epoch_run, 'epoch_2.pth'), '1', '--work-dir', str(tmp_path),
               *options])
    assert 'kNN (20 bank, 20 queries' in out
    import json
    results = json.loads((tmp_path / 'knn_results.json').read_text())['results']
    # the bank holds the queries themselves: each query's nearest neighbour is itself
    assert results['k=20']['top1'] > 0 and results['k=200']['top5'] > 0
    wrong = tmp_path / 'wrong.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, wrong)
    result = subprocess.run(['bash', 'tools/benchmarks/knn_eval.sh', config, str(wrong), '1',
                             *options], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT, PYTHON=sys.executable))
    assert result.returncode != 0 and 'does not match the backbone' in result.stderr


def test_linear_eval_from_an_extracted_backbone(sample_imagenet, two_epoch_run, tmp_path):
    """pretrain -> extract_backbone.py -> linear_eval.sh (the ImageNet protocol config,
    shrunk) on the 20 real images; the frozen backbone equals the pretrained one."""
    config = osp.join(ROOT, 'configs', 'benchmarks', 'linear_eval',
                      'resnet50_linear-8xb32-steplr-100e_imagenet.py')
    pretrain = str(tmp_path / 'backbone.pth')
    run([sys.executable, 'tools/model_converters/extract_backbone.py',
         osp.join(two_epoch_run, 'epoch_2.pth'), pretrain])
    loader = ['data_root=' + sample_imagenet, 'data_prefix=train', 'ann_file=meta/train.txt']
    out = run(['bash', 'tools/benchmarks/linear_eval.sh', config, pretrain, '1',
               '--work-dir', str(tmp_path), '--cfg-options', 'model.num_classes=20',
               'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
               'train_dataloader.batch_size=10', 'val_dataloader.batch_size=10',
               'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
               'train_dataloader.pin_memory=False', 'default_hooks.checkpoint.interval=2',
               *[f'{split}_dataloader.dataset.{kv}' for split in ('train', 'val')
                 for kv in loader],
               'train_dataloader.dataset.pipeline.1.size=64',
               'val_dataloader.dataset.pipeline.1.size=72',
               'val_dataloader.dataset.pipeline.2.size=64'])
    assert 'accuracy/top1' in out and 'accuracy/top5' in out
    ckpt = load_checkpoint_file(osp.join(str(tmp_path), 'epoch_2.pth'))['state_dict']
    pretrained = state(osp.join(two_epoch_run, 'epoch_2.pth'))
    backbone_keys = [key for key in ckpt if key.startswith('backbone.')]
    assert len(backbone_keys) == len(state(pretrain)) > 300
    for key in backbone_keys:
        assert torch.equal(ckpt[key], pretrained[key]), key  # frozen, BN stats included
