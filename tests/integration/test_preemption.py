"""Issue 17, item 1: a preemption signal in the middle of an epoch makes every rank finish the
iteration, save ``iter_N.pth`` together and exit with 75; resuming from it gives the weights of
the uninterrupted run, bit for bit. A second signal stops at once.

The tiny run of test_ddp_resume.py (20 images, 5 iterations an epoch, 2 epochs); the signals
are sent by :class:`signal_hooks.SignalAtIteration` after iteration 3, so the ranks notice them
at iteration 4 (or, forwarded by torchrun, 4 or 5).

Before the fix: SIGTERM ended tools/train.py at once with 143 (no checkpoint, nothing in the
log); SIGTERM to one rank of tools/dist_train.sh made torchrun stop the other (nothing saved);
SIGUSR1 to torchrun killed it and left its workers training without it; a temporary file of
a killed save was never removed (tests/test_utils/test_stale_temporaries.py).
"""
import glob
import os.path as osp
import re
import sys

from runs import dist_train, run_command, tiny_options, uninterrupted_ddp_run, write_config
from tiny_run import assert_same_state, log_text, model_state, tiny_images  # noqa: F401

PREEMPTED = 75


def _signal_hook(**args) -> str:
    """Config lines adding a SignalAtIteration hook after iteration 3."""
    arguments = ''.join(f', {name}={value!r}' for name, value in args.items())
    return ("custom_hooks = [dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, "
            f"max_keep_ckpts=-1), dict(type='SignalAtIteration', iteration=3{arguments})]\n")


def _train(config: str, data_root: str, work_dir: str, *extra: str, expect: int = 0) -> str:
    """tools/train.py (one process, 4 images a batch, 2 data loader workers)."""
    options = tiny_options(data_root, batch_size=4) + ['train_dataloader.num_workers=2']
    return run_command([sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
                        *extra, '--cfg-options', *options], timeout=600, expect=expect)


def _saved(work_dir: str) -> str:
    """The preemption checkpoint: last_checkpoint names it and the work-dir log says so."""
    with open(osp.join(work_dir, 'last_checkpoint'), encoding='utf-8') as f:
        path = f.read().strip()
    assert re.fullmatch(r'.*/iter_\d+\.pth', path) and osp.isfile(path)
    assert re.search(rf'preempted \(SIG\w+\): saved {re.escape(path)} after iteration \d+ '
                     r'\(epoch 1, batch \d\); continue with --resume', log_text(work_dir))
    return path


def _assert_same_end(reference: str, work_dir: str) -> None:
    for name in ('iter_10.pth', 'epoch_2.pth'):
        assert_same_state(model_state(osp.join(reference, name)),
                          model_state(osp.join(work_dir, name)))


def test_sigterm_saves_and_the_resumed_run_is_bit_identical(tiny_images, tmp_path):
    """One process with 2 loader workers; SIGTERM to it and its workers (as Slurm signals every
    process of a job), twice at once (the second is a copy: it does not stop the save)."""
    folder = str(tmp_path)
    plain = write_config(folder, 'plain.py')
    _train(plain, tiny_images, osp.join(folder, 'uninterrupted'))
    signalled = write_config(folder, 'signalled.py',
                             _signal_hook(signal='SIGTERM', target='job', times=2))
    work_dir = osp.join(folder, 'work')
    out = _train(signalled, tiny_images, work_dir, expect=PREEMPTED)
    assert 'SIGTERM received: stopping after this iteration' in out
    assert _saved(work_dir).endswith('iter_4.pth')
    assert not glob.glob(osp.join(work_dir, '.*.tmp-*'))
    out = _train(signalled, tiny_images, work_dir, '--resume')
    assert 'resumed in the middle of epoch 1: skipped the 4 batches' in out
    _assert_same_end(osp.join(folder, 'uninterrupted'), work_dir)


def test_signal_to_one_rank_saves_on_every_rank(tiny_images, tmp_path_factory, tmp_path):
    """SIGUSR1 to rank 1 only of tools/dist_train.sh: both ranks save iter_4, the launcher
    exits 75, and resuming gives the uninterrupted run's weights."""
    uninterrupted = uninterrupted_ddp_run(tiny_images, tmp_path_factory)
    config = write_config(str(tmp_path), 'signalled.py', _signal_hook(signal='SIGUSR1', rank=1))
    work_dir = str(tmp_path / 'work')
    out = dist_train(config, tiny_images, work_dir, expect=PREEMPTED)
    assert 'preempted, every process saved and exited with code 75' in out
    assert _saved(work_dir).endswith('iter_4.pth')
    dist_train(config, tiny_images, work_dir, '--resume')
    _assert_same_end(uninterrupted, work_dir)


def test_signal_to_the_launcher_reaches_every_rank(tiny_images, tmp_path):
    """SIGUSR1 (what slurm_train.sh asks for before the time limit) to torchrun: it passes the
    signal on, the ranks save and stop, torchrun waits for them and exits 138 (128 + SIGUSR1).
    """
    config = write_config(str(tmp_path), 'signalled.py',
                          _signal_hook(signal='SIGUSR1', rank=0, target='launcher'))
    work_dir = str(tmp_path / 'work')
    out = dist_train(config, tiny_images, work_dir, expect=128 + 10)
    assert 'launcher: SIGUSR1 received and passed on to the workers' in out
    checkpoint = _saved(work_dir)
    assert model_state(checkpoint)  # complete and readable
    assert not osp.exists(osp.join(work_dir, 'iter_9.pth'))


def test_a_second_signal_stops_at_once(tiny_images, tmp_path):
    """A second SIGTERM 2.5 s after the first ends the process by SIGTERM, without saving."""
    config = write_config(str(tmp_path), 'signalled.py',
                          _signal_hook(signal='SIGTERM', times=2, gap_s=2.5))
    work_dir = str(tmp_path / 'work')
    out = _train(config, tiny_images, work_dir, expect=-15)
    assert 'SIGTERM received again: stopping at once, without saving' in out
    assert not glob.glob(osp.join(work_dir, 'iter_4.pth'))
