"""A short real pretraining run with the kNN-monitor example config and TensorBoard: what a
user sees in the console, scalars.json, plots and TensorBoard."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT, fashion_mnist_slice

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import analyze_logs  # noqa: E402

EXAMPLE = osp.join(ROOT, 'configs',
                   'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_knn-monitor.py')
TENSORBOARD = osp.join(ROOT, 'configs', '_base_', 'tensorboard.py')
KNN_KEYS = ('knn/top1_k20', 'knn/top5_k20', 'knn/top1_k200', 'knn/top5_k200')


def run(cmd) -> str:
    """Run a command from the repository root; fail with its output if it fails."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def fashion_mnist(tmp_path_factory) -> str:
    """Fashion-MNIST slices (5 train / 3 val images per class) as an ImageNet-style folder."""
    return fashion_mnist_slice(str(tmp_path_factory.mktemp('fashion_mnist')), 5, 3)


@pytest.fixture(scope='module')
def monitored_run(fashion_mnist, tmp_path_factory):
    """Two epochs of the kNN-monitor example with TensorBoard added the documented way.

    Returns:
        The console output and the run's vis_data folder.
    """
    folder = tmp_path_factory.mktemp('tensorboard_run')
    config = folder / 'knn_monitor_tensorboard.py'
    config.write_text(f'_base_ = [{EXAMPLE!r}, {TENSORBOARD!r}]\n')
    work_dir = str(folder / 'work')
    options = [f'train_dataloader.dataset.data_root={fashion_mnist}',
               *[f'custom_hooks.0.{loader}.{key}'
                 for loader in ('bank_dataloader', 'query_dataloader')
                 for key in (f'dataset.data_root={fashion_mnist}', 'num_workers=0')],
               'custom_hooks.0.interval=1', 'train_cfg.max_epochs=2',
               'train_dataloader.batch_size=10', 'train_dataloader.num_workers=0',
               'model.queue.queue_len=40', 'default_hooks.logger.interval=1']
    out = run([sys.executable, 'tools/train.py', str(config), '--work-dir', work_dir,
               '--cfg-options', *options])
    [vis_data] = glob.glob(osp.join(work_dir, '*', 'vis_data'))
    return out, vis_data


def test_example_config_keeps_the_recipe_hooks():
    cfg = Config.fromfile(EXAMPLE)
    assert [hook['type'] for hook in cfg.custom_hooks] == ['KNNEvalHook']
    assert {cfg.default_hooks.momentum.type, cfg.default_hooks.random_state.type} == {
        'MomentumUpdateHook', 'RandomStateHook'}


def test_no_registry_scope_warning(monitored_run):
    out, _ = monitored_run
    assert 'Epoch(train) [2]' in out
    assert 'Failed to search registry' not in out


def test_knn_accuracies_reach_scalars_json_and_plots(monitored_run, tmp_path):
    _, vis_data = monitored_run
    records = analyze_logs.load_log(osp.join(vis_data, 'scalars.json'))
    knn = [record for record in records if 'knn/top1_k20' in record]
    # once per epoch, at the training step of the loss curves (5 iterations per epoch)
    assert [(record['epoch'], record['step']) for record in knn] == [(1, 5), (2, 10)]
    assert all(0 <= record[key] <= 100 for record in knn for key in KNN_KEYS)
    out = tmp_path / 'knn.png'
    run([sys.executable, 'tools/analysis_tools/analyze_logs.py', 'plot_curve',
         osp.join(vis_data, 'scalars.json'), '--keys', 'knn/top1_k20', 'loss',
         '--out', str(out)])
    assert out.read_bytes()[:4] == b'\x89PNG'


def test_tensorboard_events_hold_the_scalars(monitored_run):
    pytest.importorskip('tensorboard')
    _, vis_data = monitored_run
    [events] = glob.glob(osp.join(vis_data, 'events.out.tfevents.*'))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(events)
    accumulator.Reload()
    tags = set(accumulator.Tags()['scalars'])
    assert {'loss', 'lr', *KNN_KEYS} <= tags
    assert [event.step for event in accumulator.Scalars('knn/top1_k20')] == [5, 10]
