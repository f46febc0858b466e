"""Issue 17, item 2: one rank never hangs the rest, and a failure names who failed.

- A frozen rank (SIGSTOP): ``env_cfg.dist_cfg.timeout`` is applied to the gloo group, so the
  other rank's collective times out, and its error names the rank that stopped answering
  (with its host and pid). Before the fix the timeout was printed but not applied: rank 0
  still waited after 65 s (gloo's default is 30 minutes).
- A dead rank (SIGKILL) under tools/dist_train.sh: rank 0 names rank 1; the launcher exits
  137 (rank 1 killed by SIGKILL) instead of 1.
- A non-finite value seen by rank 1 only: both ranks stop with the same message naming rank 1
  (before: rank 1 raised alone, rank 0 waited in its next collective until torchrun killed it).
- A dead data loader worker is named with its pid and the signal (before: at times
  ``ConnectionResetError: [Errno 104]``, no word of the worker).
"""
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, free_port
from runs import command_env, dist_train, tiny_options, write_config
from signal_hooks import SignalAtIteration  # noqa: F401 (registers the test hooks)
from tiny_run import build_runner, tiny_config, tiny_images  # noqa: F401


def _hooks(hook: str) -> str:
    return f'custom_hooks = [{hook}]\n'


def test_a_frozen_rank_is_named_within_the_timeout(tiny_images, tmp_path):
    """Two processes started as torchrun would (env://), timeout 10 s; rank 1 stops itself
    after iteration 3. Rank 0 must end within the timeout and the few seconds of asking which
    rank still answers, naming rank 1 and its pid."""
    config = write_config(str(tmp_path), 'frozen.py', _hooks(
        "dict(type='SignalAtIteration', iteration=3, signal='SIGSTOP', rank=1)"))
    port = free_port()
    cmd = [sys.executable, 'tools/train.py', config, '--launcher', 'pytorch', '--work-dir',
           str(tmp_path / 'work'), '--cfg-options', *tiny_options(tiny_images),
           'env_cfg.dist_cfg.timeout=10']
    ranks = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=command_env(
                                  port, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                                  MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port)))
             for rank in range(2)]
    try:
        while ranks[1].poll() is None and not _stopped(ranks[1].pid):
            time.sleep(0.2)
        stopped_at = time.monotonic()
        out, _ = ranks[0].communicate(timeout=60)
        waited = time.monotonic() - stopped_at
    finally:
        for rank in ranks:
            rank.kill()
            rank.wait()
    assert ranks[0].returncode == 1, out[-3000:]
    assert 'Timed out waiting 10000ms' in out
    assert re.search(rf'no answer within 5 s from rank 1 \(host \S+, pid {ranks[1].pid}\): '
                     'frozen', out), out[-3000:]
    assert waited < 40


def _stopped(pid: int) -> bool:
    """Whether a process is stopped (state T in /proc)."""
    with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
        return f.read().rsplit(')', 1)[1].split()[0] == 'T'


def test_a_killed_rank_is_named(tiny_images, tmp_path):
    config = write_config(str(tmp_path), 'killed.py', _hooks(
        "dict(type='SignalAtIteration', iteration=3, signal='SIGKILL', rank=1)"))
    out = dist_train(config, tiny_images, str(tmp_path / 'work'), expect=128 + 9)
    assert re.search(r'rank 0 \(host \S+, pid \d+\): a collective operation failed during epoch '
                     r'1 \(.*\); no answer within 5 s from rank 1 \(host \S+, pid \d+\)', out), \
        out[-3000:]


def test_a_non_finite_value_on_one_rank_stops_every_rank(tiny_images, tmp_path):
    config = write_config(str(tmp_path), 'poisoned.py', _hooks(
        "dict(type='PoisonBufferAtIteration', iteration=3, rank=1)"))
    out = dist_train(config, tiny_images, str(tmp_path / 'work'),
                     options=['train_cfg.finite_check_interval=1'], expect=1)
    for rank in (0, 1):
        assert re.search(rf'\[rank{rank}\]: \S*NonFiniteError: rank 1: non-finite values in '
                         r'\S+running_var at iteration 4 \(epoch 1, batch 4\)', out), \
            out[-3000:]


def test_a_dead_loader_worker_is_named(tiny_images, tmp_path):
    from mmmoco.engine.runner.failures import DataLoaderWorkerError
    cfg = tiny_config(tiny_images, str(tmp_path), num_workers=2)
    cfg.custom_hooks = [dict(type='SignalAtIteration', iteration=2, signal='SIGKILL',
                             target='loader_worker')]
    runner = build_runner(cfg)
    with pytest.raises(DataLoaderWorkerError, match=r'data loader worker 0 \(pid \d+\) was '
                                                    r'killed by SIGKILL \(what the '
                                                    r'out-of-memory killer sends'):
        runner.train()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are given back
