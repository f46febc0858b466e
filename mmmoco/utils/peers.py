"""Which ranks still answer after a collective operation failed, through the rendezvous store.

A collective fails on the ranks that wait when a peer is frozen (SIGSTOP, a hung device) or
dead (killed, out of memory): after the process group's timeout, or at once when the peer's
connection closes. The error says neither which rank nor where it runs. Every rank writes
where it runs (host, pid) into the rendezvous store at start (:func:`record_whereabouts`);
after a failure, each rank that saw it writes an answer key and waits a few seconds for the
others' (:func:`silent_ranks`): a rank that never answers is the frozen or dead one. The
store lives in the launcher (torchrun) or in rank 0, outside the failed connections.
"""
import datetime
import os
import socket
import time
from typing import List, Optional

import torch.distributed as dist
from torch.distributed import distributed_c10d

#: Seconds a rank waits for the others' answers after a collective failed.
ANSWER_WAIT_S = 5.0

_WHERE = 'mmmoco/peers/where/{}'
_ANSWER = 'mmmoco/peers/answer/{}'


def is_collective_failure(error: BaseException) -> bool:
    """Whether an error comes from a failed collective (timeout or lost connection).

    Args:
        error: The error.

    Returns:
        True for torch's distributed errors and gloo's transport errors.
    """
    return isinstance(error, dist.DistError) or '/gloo/' in str(error)


def _store() -> Optional[dist.Store]:
    """The default process group's store, or None without a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return distributed_c10d._get_default_store()


def record_whereabouts() -> None:
    """Write this rank's host and process id into the store (every rank, at start)."""
    store = _store()
    if store is not None:
        store.set(_WHERE.format(dist.get_rank()),
                  f'host {socket.gethostname()}, pid {os.getpid()}')


def whereabouts(rank: int) -> str:
    """Where a rank runs, as it recorded it.

    Args:
        rank: The rank.

    Returns:
        E.g. ``'host node3, pid 4513'``, or ``'unknown'`` if it recorded nothing.
    """
    store = _store()
    key = _WHERE.format(rank)
    try:
        if store is not None and store.check([key]):
            return store.get(key).decode()
    except RuntimeError:
        pass
    return 'unknown'


def silent_ranks(wait_s: float = ANSWER_WAIT_S) -> Optional[List[int]]:
    """Answer through the store and list the ranks that do not answer within ``wait_s``.

    Call it on a rank whose collective failed; the other ranks whose collectives failed
    answer too, a frozen or dead rank cannot.

    Args:
        wait_s: Seconds to wait for the answers.

    Returns:
        The ranks that did not answer, or None if the store itself does not answer (it runs
        in the launcher or in rank 0).
    """
    store = _store()
    if store is None:
        return None
    rank, world_size = dist.get_rank(), dist.get_world_size()
    deadline = time.monotonic() + wait_s
    try:
        store.set_timeout(datetime.timedelta(seconds=wait_s))
        store.set(_ANSWER.format(rank), '1')
        silent = [other for other in range(world_size) if other != rank]
        while True:
            silent = [other for other in silent if not store.check([_ANSWER.format(other)])]
            if not silent or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    except RuntimeError:
        return None
    return silent
