"""Test hooks that a training run under test imports (``custom_imports``, with this folder on
PYTHONPATH) to signal or kill a process, or spoil a rank's weights, at an exact iteration: a
preemption, a frozen or dead rank, a dead data loader worker, a non-finite value on one rank,
always in the middle of an epoch."""
import os
import signal
import time
from typing import Optional

from mmengine.hooks import Hook

from mmmoco.registry import HOOKS
from mmmoco.utils.distributed import bare_model


@HOOKS.register_module()
class SignalAtIteration(Hook):
    """After iteration ``iteration`` of rank ``rank``, send ``signal`` ``times`` times to
    ``target``.

    Args:
        iteration: The iteration (1-based, counted over the run).
        signal: Its name, e.g. ``'SIGTERM'``, ``'SIGSTOP'``, ``'SIGKILL'``.
        rank: The rank that sends it (None: every rank).
        target: ``'self'`` (this rank's process), ``'job'`` (this process and its data loader
            workers, as a scheduler signals every process of a job), ``'launcher'`` (its
            parent, torchrun) or ``'loader_worker'`` (the first data loader worker).
        times: How many times to send it.
        gap_s: Seconds between two sends.
    """

    priority = 'LOWEST'

    def __init__(self, iteration: int, signal: str = 'SIGTERM', rank: Optional[int] = None,
                 target: str = 'self', times: int = 1, gap_s: float = 0.0) -> None:
        self.iteration = iteration
        self.signal = signal
        self.rank = rank
        self.target = target
        self.times = times
        self.gap_s = gap_s

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 != self.iteration or self.rank not in (None, runner.rank):
            return
        workers = [worker.pid for worker in
                   getattr(runner.train_loop.data_iterator, '_workers', [])]
        pids = dict(self=[os.getpid()], job=[os.getpid(), *workers], launcher=[os.getppid()],
                    loader_worker=workers[:1])[self.target]
        for index in range(self.times):
            if index:
                time.sleep(self.gap_s)
            for pid in pids:
                os.kill(pid, getattr(signal, self.signal))


@HOOKS.register_module()
class PoisonBufferAtIteration(Hook):
    """After iteration ``iteration`` of rank ``rank``, make the first BN ``running_var`` NaN:
    a non-finite value on that rank only (DDP does not synchronise buffers here).

    Args:
        iteration: The iteration (1-based).
        rank: The rank.
    """

    priority = 'LOWEST'

    def __init__(self, iteration: int, rank: int) -> None:
        self.iteration = iteration
        self.rank = rank

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 != self.iteration or runner.rank != self.rank:
            return
        buffers = bare_model(runner.model).state_dict(keep_vars=True)
        next(value for key, value in buffers.items()
             if key.endswith('running_var')).data.fill_(float('nan'))
