"""A data loader worker that dies is named even when the main process sees the broken
connection before the worker has finished dying (the ``ConnectionResetError: [Errno 104]`` of
issue 17, which named no worker). The whole run: tests/integration/test_no_hang.py."""
import multiprocessing
import os
import signal
import time
from types import SimpleNamespace

from mmmoco.engine.runner.failures import DataLoaderWorkerError, named_failure


def _die_soon() -> None:
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)


def _torch_sigchld_handler(signum, frame) -> None:
    """Like torch's handler for the data loader: reports a dead worker by raising."""
    raise RuntimeError('DataLoader worker (pid N) is killed by signal: Killed.')


def test_a_worker_still_dying_is_named():
    """The worker dies 0.5 s after the broken connection, and the SIGCHLD handler torch
    installs for its workers raises while the failure is being looked into."""
    previous = signal.signal(signal.SIGCHLD, _torch_sigchld_handler)
    worker = multiprocessing.get_context('fork').Process(target=_die_soon)
    worker.start()
    try:
        iterator = SimpleNamespace(_workers=[worker], _shutdown=False)
        error = named_failure(ConnectionResetError(104, 'Connection reset by peer'), iterator,
                              'epoch 3')
    finally:
        signal.signal(signal.SIGCHLD, previous)
        worker.join()
    assert isinstance(error, DataLoaderWorkerError)
    assert str(error).startswith(f'data loader worker 0 (pid {worker.pid}) was killed by '
                                 'SIGKILL (what the out-of-memory killer sends')
    assert 'during epoch 3 (ConnectionResetError: [Errno 104] Connection reset by peer)' \
        in str(error)


def test_other_errors_are_left_alone():
    assert named_failure(ValueError('bad'), None, 'epoch 1') is None
