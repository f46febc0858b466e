"""One run per work dir: a lock file holding the PID and host of the run that uses it.

Two runs on one work dir would overwrite each other's checkpoints, ``last_checkpoint``,
config dump and log. The runner's rank 0 creates ``WORK_DIR/run.lock`` atomically
(``O_CREAT | O_EXCL``) right after the process group is up and before anything is written
to the work dir (log folder, config dump); the other ranks learn the outcome from it, so every
rank of a refused run stops with the same message. The lock is released when training ends
(also on an exception) and at interpreter exit.

A lock left behind by a run that was killed is stale when it names this host and a process
that is no longer running (or a PID reused by another process), or an earlier run of this
Slurm job (the same ``SLURM_JOB_ID``, another ``SLURM_RESTART_COUNT``: Slurm runs one
incarnation of a requeued job at a time, possibly on another node): it is taken over with a
warning. Another lock of another host cannot be checked from here: the run stops naming the
host and saying how to remove the lock once that run is known to be gone.
"""
import contextlib
import fcntl
import json
import logging
import os
import os.path as osp
import socket
import sys
import time
import uuid
import weakref
from typing import Iterator, Optional

from mmengine.dist import broadcast_object_list
from mmengine.logging import print_log

#: The lock's file name in the work dir.
LOCK_NAME = 'run.lock'

#: How long an empty lock file (its creator is still writing it) is re-read.
READ_PATIENCE_S = 2.0


class WorkDirBusyError(RuntimeError):
    """Another run uses the work dir; the message names it and the ways out."""


def process_start(pid: int) -> Optional[str]:
    """When a process started, in clock ticks since boot (Linux), to tell a reused PID.

    Args:
        pid: A process id.

    Returns:
        Field 22 of ``/proc/PID/stat``, or None where there is no such file.
    """
    try:
        with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_running(pid: int, started: Optional[str]) -> bool:
    """Whether a process of this host is still the one that wrote a lock.

    Args:
        pid: The lock's PID.
        started: The lock's :func:`process_start`, if recorded.

    Returns:
        False if no process has this PID, or it started at another time (a reused PID).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a process of another user: it exists
    now = process_start(pid)
    return started is None or now is None or now == started


@contextlib.contextmanager
def _serialised(work_dir: str) -> Iterator[None]:
    """Serialise lock checks and take-overs of processes of this host (``flock`` on the
    work dir), so that two runs cannot both take over one stale lock."""
    fd = os.open(work_dir, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a filesystem without flock: O_EXCL alone
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def slurm_incarnation() -> Optional[tuple]:
    """This process's Slurm job and restart count, if it runs under Slurm.

    Returns:
        ``(SLURM_JOB_ID, SLURM_RESTART_COUNT)`` (the count defaults to '0'), or None.
    """
    job = os.environ.get('SLURM_JOB_ID')
    return (job, os.environ.get('SLURM_RESTART_COUNT', '0')) if job else None


class WorkDirLock:
    """The lock file of a work dir, held by this process once :meth:`acquire` returns.

    Args:
        work_dir: The work dir (must exist).
    """

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(work_dir, LOCK_NAME)
        self.token = uuid.uuid4().hex
        self.held = False

    def _record(self) -> dict:
        return dict(pid=os.getpid(), host=socket.gethostname(), started=process_start(
            os.getpid()), since=time.strftime('%Y-%m-%d %H:%M:%S'),
            command=' '.join(sys.argv)[:300], token=self.token, slurm=slurm_incarnation())

    def _read(self) -> Optional[dict]:
        """The lock's record; None if it vanished. An empty or damaged file is re-read for
        :data:`READ_PATIENCE_S` (its creator may still be writing it), then refused."""
        deadline = time.monotonic() + READ_PATIENCE_S
        while True:
            try:
                with open(self.path, encoding='utf-8') as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            try:
                record = json.loads(text)
                if isinstance(record, dict) and isinstance(record.get('pid'), int):
                    return record
            except ValueError:
                pass
            if time.monotonic() > deadline:
                raise WorkDirBusyError(
                    f'{self.path} exists but is not a lock record ({text[:80]!r}); if no run '
                    f'uses this work dir, remove it (rm {self.path}) and start again')
            time.sleep(0.1)

    def _create(self) -> bool:
        """Create the lock file with this process's record; False if it exists."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(self._record(), f)
            f.flush()
            os.fsync(f.fileno())
        self.held = True
        return True

    def acquire(self) -> None:
        """Take the lock, or stop naming the run that holds it.

        Raises:
            WorkDirBusyError: If a running process of this host, or a process of another
                host, holds the lock.
        """
        with _serialised(osp.dirname(self.path)):
            while not self._create():
                holder = self._read()
                if holder is not None:
                    self._take_over_or_refuse(holder)
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(self.path)

    def _take_over_or_refuse(self, holder: dict) -> None:
        """Return if the holder's lock may be taken over (the caller removes it), else raise
        :class:`WorkDirBusyError` naming the holder."""
        who = (f"PID {holder['pid']} on host {holder.get('host')} since {holder.get('since')} "
               f"({holder.get('command') or 'command unknown'})")
        mine, theirs = slurm_incarnation(), holder.get('slurm')
        if mine and theirs and theirs[0] == mine[0] and theirs[1] != mine[1]:
            print_log(f'taking over the lock {self.path} of {who}: an earlier run of this Slurm '
                      f'job ({mine[0]}, restart {theirs[1]}; this is restart {mine[1]})',
                      logger='current', level=logging.WARNING)
            return
        if holder.get('host') != socket.gethostname():
            raise WorkDirBusyError(
                f'{osp.dirname(self.path)} is in use by another run: {who}. A lock of another '
                'host cannot be checked from here: if that run has ended (e.g. its node went '
                f'down), remove the lock (rm {self.path}) and start again; otherwise use '
                'another --work-dir')
        if holder['pid'] == os.getpid():
            return  # an earlier runner of this process (tests, notebooks)
        if process_running(holder['pid'], holder.get('started')):
            raise WorkDirBusyError(
                f'{osp.dirname(self.path)} is in use by another run: {who}. Two runs on one '
                'work dir would overwrite each other\'s checkpoints and logs: wait for it to '
                f'finish, stop it (kill {holder["pid"]}), or use another --work-dir')
        print_log(f'taking over the stale lock {self.path} of {who}: that process is no longer '
                  'running (killed?)', logger='current', level=logging.WARNING)

    def release(self) -> None:
        """Remove the lock file if this lock still holds it (not taken over since)."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            with open(self.path, encoding='utf-8') as f:
                if json.load(f).get('token') == self.token:
                    os.remove(self.path)


class WorkDirLockMixin:
    """Runner methods that hold the work dir's lock from set-up to the end of training."""

    _work_dir_lock: Optional[WorkDirLock] = None

    def setup_env(self, env_cfg: dict) -> None:
        """Set up the environment, then lock the work dir (rank 0; every rank learns the
        outcome), before the runner writes its log folder and config dump.

        Args:
            env_cfg: The ``env_cfg`` of the config.

        Raises:
            WorkDirBusyError: On every rank, if another run holds the work dir.
        """
        super().setup_env(env_cfg)
        refusal = [None]
        if self.rank == 0:
            lock = WorkDirLock(self.work_dir)
            try:
                lock.acquire()
                self._work_dir_lock = lock
                weakref.finalize(self, lock.release)
            except WorkDirBusyError as error:
                refusal = [str(error)]
        if self.world_size > 1:
            broadcast_object_list(refusal)
        if refusal[0] is not None:
            raise WorkDirBusyError(refusal[0])

    def train(self):
        """Train, then release the work dir (also on an exception).

        Returns:
            The trained model.
        """
        try:
            return super().train()
        finally:
            if self._work_dir_lock is not None:
                self._work_dir_lock.release()
