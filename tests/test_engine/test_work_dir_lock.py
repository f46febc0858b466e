"""Issue 17, item 4: one run per work dir. A second run on a busy work dir stops at start-up
naming the holder, before it writes anything; stale locks of killed runs are taken over.

Before the fix two tools/train.py started together on one work dir both exited 0, overwrote
each other's checkpoints, last_checkpoint and config dump, and logged into two log folders.
"""
import glob
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from mmmoco.engine.runner.work_dir_lock import LOCK_NAME, WorkDirBusyError, WorkDirLock
from mmmoco.utils import load_checkpoint_file
from tiny_run import RECIPE, tiny_images  # noqa: F401

HOLD = """
import sys, time
from mmmoco.engine.runner.work_dir_lock import WorkDirLock
WorkDirLock(sys.argv[1]).acquire()
print('held', flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process of this host that holds the lock of ``tmp_path``."""
    process = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path)], cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == 'held'
    yield process
    process.kill()
    process.wait()


def test_running_holder_is_named_and_a_killed_one_is_taken_over(tmp_path, holder,
                                                                warnings_logged):
    with pytest.raises(WorkDirBusyError, match=rf'{tmp_path} is in use by another run: PID '
                                               rf'{holder.pid} on host {socket.gethostname()}'
                                               rf'.*kill {holder.pid}'):
        WorkDirLock(str(tmp_path)).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = WorkDirLock(str(tmp_path))
    lock.acquire()
    assert any(f'taking over the stale lock {tmp_path / LOCK_NAME}' in message
               and f'PID {holder.pid}' in message for message in warnings_logged)
    assert json.load(open(tmp_path / LOCK_NAME))['pid'] == os.getpid()
    lock.release()
    assert not osp.exists(tmp_path / LOCK_NAME)


def test_lock_of_another_host_is_refused_with_how_to_remove_it(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps(dict(pid=os.getpid(), host='node-17', since='yesterday')))
    with pytest.raises(WorkDirBusyError, match=rf'PID {os.getpid()} on host node-17 since '
                                               rf'yesterday.*rm {path}'):
        WorkDirLock(str(tmp_path)).acquire()
    assert json.loads(path.read_text())['host'] == 'node-17'


def test_requeued_slurm_job_takes_over_its_earlier_run_lock(tmp_path, monkeypatch,
                                                            warnings_logged):
    """A Slurm job requeued onto another node after its first run was killed: the lock names
    the old node and the same job id with restart count 0; restart 1 takes it over. Another
    job, or the same incarnation, is refused."""
    path = tmp_path / LOCK_NAME
    monkeypatch.setenv('SLURM_JOB_ID', '4242')
    monkeypatch.setenv('SLURM_RESTART_COUNT', '1')
    for slurm in (['4243', '0'], ['4242', '1']):
        path.write_text(json.dumps(dict(pid=1, host='node-3', slurm=slurm)))
        with pytest.raises(WorkDirBusyError, match='on host node-3'):
            WorkDirLock(str(tmp_path)).acquire()
    path.write_text(json.dumps(dict(pid=1, host='node-3', slurm=['4242', '0'])))
    lock = WorkDirLock(str(tmp_path))
    lock.acquire()
    assert json.loads(path.read_text())['slurm'] == ['4242', '1']
    assert any('an earlier run of this Slurm job (4242, restart 0; this is restart 1)' in m
               for m in warnings_logged)
    lock.release()


def test_release_leaves_a_lock_taken_over_since(tmp_path):
    first = WorkDirLock(str(tmp_path))
    first.acquire()
    second = WorkDirLock(str(tmp_path))
    second.acquire()  # the same process: an earlier runner's lock is replaced
    first.release()
    assert json.load(open(tmp_path / LOCK_NAME))['token'] == second.token
    second.release()
    assert not osp.exists(tmp_path / LOCK_NAME)


def test_two_runs_started_together_one_stops_naming_the_other(tiny_images, tmp_path):
    """Two tools/train.py on one work dir (20 images, 6 epochs): whichever locks first trains;
    the other stops at start-up naming it, without a log folder or config dump of its own."""
    work_dir = str(tmp_path / 'work')
    options = [
        f'train_dataloader.dataset.data_root={tiny_images}', 'train_dataloader.dataset.ann_file=',
        'train_dataloader.dataset.data_prefix=train', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.transforms.0.size=16',
        'model.backbone.base_channels=4', 'model.neck.in_channels=32',
        'model.neck.hidden_channels=32', 'model.queue.queue_len=16',
        'model.single_device_bn_splits=2', 'train_cfg.max_epochs=6', 'randomness.seed=0',
        'default_hooks.checkpoint.interval=1']
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    runs = [subprocess.Popen([sys.executable, 'tools/train.py', RECIPE, '--work-dir', work_dir,
                              '--cfg-options', *options], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(code == 0 for code in codes) == [False, True], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert f'{work_dir} is in use by another run: PID {runs[winner].pid}' in outputs[loser]
    assert 'Traceback' not in outputs[loser]
    assert len(glob.glob(osp.join(work_dir, '2*', '*.log'))) == 1
    assert len(glob.glob(osp.join(work_dir, '*.py'))) == 1
    # the winner's checkpoints (the recipe keeps 2), complete
    assert sorted(name for name in os.listdir(work_dir) if name.endswith('.pth')) == [
        'epoch_5.pth', 'epoch_6.pth']
    assert load_checkpoint_file(osp.join(work_dir, 'epoch_6.pth'))['meta']['iter'] == 30
    assert not osp.exists(osp.join(work_dir, LOCK_NAME))
