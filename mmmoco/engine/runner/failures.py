"""Name who failed when training stops on an error that does not say: a data loader worker
that died, or a rank that froze or died under DDP.

- A killed data loader worker surfaces in the main process as
  ``ConnectionResetError: [Errno 104]`` (a batch half received, while the worker is still
  dying), ``DataLoader worker (pid(s) N) exited unexpectedly`` or an error raised from torch's
  SIGCHLD handler at any point of the step. The worker, its pid and how it ended are read from
  the data iterator.
- A frozen or dead rank makes the others' collective fail with a gloo timeout or a closed
  connection; :func:`mmmoco.utils.peers.silent_ranks` finds the ranks that no longer answer.
"""
import signal
import time
from typing import Any, List, Optional

from mmmoco.utils.distributed import get_rank, is_distributed
from mmmoco.utils.peers import ANSWER_WAIT_S, is_collective_failure, silent_ranks, whereabouts


#: Seconds to wait for a worker to be seen ended after a broken connection to it (the
#: connection breaks while the worker is still dying).
WORKER_END_WAIT_S = 2.0


class DataLoaderWorkerError(RuntimeError):
    """A data loader worker died while training; the message names it."""


class PeerFailureError(RuntimeError):
    """A collective failed because another rank froze or died; the message names it."""


def _ending(exitcode: int) -> str:
    """How a process ended, from its exit code."""
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = (' (what the out-of-memory killer sends: check the memory use, or lower '
                'num_workers or batch_size)') if -exitcode == signal.SIGKILL else ''
        return f'was killed by {name}{hint}'
    return f'exited with code {exitcode}'


def dead_workers(iterator: Any, wait_s: float = 0.0) -> List[str]:
    """The data loader workers of an iterator that have ended while it still ran.

    Args:
        iterator: A data loader iterator (the worker pool of ``num_workers > 0``), or None.
        wait_s: Seconds to wait for one to be seen ended.

    Returns:
        One description per ended worker: its index, pid and how it ended.
    """
    workers = getattr(iterator, '_workers', None)
    if not workers or getattr(iterator, '_shutdown', False):
        return []
    deadline = time.monotonic() + wait_s
    try:
        while not any(worker.exitcode is not None for worker in workers) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    except RuntimeError:  # torch's SIGCHLD handler reports the worker's end by raising here
        pass
    return [f'data loader worker {index} (pid {worker.pid}) {_ending(worker.exitcode)}'
            for index, worker in enumerate(workers) if worker.exitcode is not None]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'


def named_failure(error: Exception, iterator: Any, where: str) -> Optional[RuntimeError]:
    """An error naming the worker or rank behind ``error``, if it can be found.

    Args:
        error: The error that stopped training.
        iterator: The current data loader iterator, or None.
        where: Where training was, e.g. ``'epoch 3'``, for the message.

    Returns:
        A :class:`DataLoaderWorkerError` if a worker of ``iterator`` has died; under DDP, a
        :class:`PeerFailureError` naming the ranks that no longer answer if ``error`` is a
        failed collective; otherwise None (``error`` says enough).
    """
    rank = f'rank {get_rank()}: ' if is_distributed() else ''
    broken = isinstance(error, (ConnectionError, EOFError))
    dead = dead_workers(iterator, WORKER_END_WAIT_S if broken else 0.0)
    if dead:
        return DataLoaderWorkerError(
            f'{rank}{"; ".join(dead)} during {where} ({_first_line(error)}). Training stopped; '
            'the checkpoints already saved are intact: continue with --resume')
    if not (is_distributed() and is_collective_failure(error)):
        return None
    me = get_rank()
    silent = silent_ranks()
    if silent is None:
        who = ('the rendezvous store does not answer either: the launcher or rank 0 (which '
               'hold it) is gone or frozen')
    elif silent:
        who = (f'no answer within {ANSWER_WAIT_S:.0f} s from '
               + ', '.join(f'rank {other} ({whereabouts(other)})' for other in silent)
               + ': frozen (stopped, e.g. by SIGSTOP, or hung), dead (killed, out of memory), '
               'or stopped by an error of its own (see its output)')
    else:
        who = 'every rank answered afterwards (a rank was slow, or the network dropped)'
    return PeerFailureError(
        f'rank {me} ({whereabouts(me)}): a collective operation failed during {where} '
        f'({_first_line(error)}); {who}. A frozen rank is detected after '
        'env_cfg.dist_cfg.timeout seconds. The checkpoints already saved are intact: '
        'continue with --resume')
