"""Stop training cleanly on a preemption signal: finish the iteration, agree across ranks,
save an iteration checkpoint, exit with :data:`PREEMPTED_EXIT_CODE`.

Schedulers announce preemption and time limits with a signal (Slurm: SIGTERM before
preempting or at the time limit, or the signal asked for with ``--signal``); a terminal sends
SIGINT. The first preemption signal sets a flag; the train loop finishes the current
iteration, the ranks agree on the flag (one small all-reduce per iteration, which also carries
the non-finite check), every rank takes part in saving ``iter_N.pth`` (atomically, with every
rank's random state, so resuming from it is exact) and the process exits with
:data:`PREEMPTED_EXIT_CODE`. A second signal ends the process at once, without saving; copies
of the first that arrive within :data:`REPEAT_AFTER_S` count as the first (a scheduler signals
every process of the job, and a launcher such as torchrun forwards the signal it got to its
workers).

The data loader workers ignore the preemption signals (a scheduler signals every process of
the job): they leave when the main process shuts them down or ends.
"""
import contextlib
import functools
import logging
import os
import os.path as osp
import signal
import sys
import threading
import time
from typing import Callable, Optional, Sequence, Tuple

import torch.distributed as dist
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmmoco.utils.atomic_write import write_text_atomic
from mmmoco.utils.distributed import is_distributed

#: Exit status of a run that a preemption signal stopped after its checkpoint was saved
#: (``EX_TEMPFAIL`` of sysexits.h, "temporary failure, try again": tools/slurm_train.sh
#: requeues the job on it).
PREEMPTED_EXIT_CODE = 75

#: The signals caught by default (``train_cfg.preemption.signals``).
DEFAULT_SIGNALS = ('SIGTERM', 'SIGINT', 'SIGUSR1')

#: Seconds after the first signal during which further signals are copies of it.
REPEAT_AFTER_S = 2.0


class TrainingPreempted(SystemExit):
    """Raised on every rank once the preemption checkpoint is saved; uncaught, the process
    exits quietly with the code.

    Args:
        code: The exit status.
        checkpoint: The saved checkpoint.
    """

    def __init__(self, code: int, checkpoint: str) -> None:
        super().__init__(code)
        self.checkpoint = checkpoint


def parse_signals(names: Sequence[str], where: str = 'train_cfg.preemption.signals'
                  ) -> Tuple[signal.Signals, ...]:
    """Turn signal names into signals, refusing those a process cannot catch.

    Args:
        names: Names such as ``'SIGTERM'`` (or ``'TERM'``).
        where: The config key, for the messages.

    Returns:
        The signals, in order.

    Raises:
        ValueError: For a name that is not a signal of this system, or SIGKILL / SIGSTOP.
    """
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f'{where} must be a list of signal names such as '
                         f"['SIGTERM', 'SIGUSR1'], got {names!r}")
    signals = []
    for name in names:
        full = name if str(name).startswith('SIG') else f'SIG{name}'
        sig = getattr(signal.Signals, str(full), None)
        if sig is None:
            raise ValueError(f'{where}: {name!r} is not a signal name of this system (e.g. '
                             "'SIGTERM', 'SIGINT', 'SIGUSR1')")
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            raise ValueError(f'{where}: {sig.name} cannot be caught by a process')
        signals.append(sig)
    return tuple(signals)


def _ignore_then_init(signals: Tuple[int, ...], init_fn: Optional[Callable[[int], None]],
                      worker_id: int) -> None:
    """A data loader worker's init: ignore the preemption signals, then the original init."""
    for sig in signals:
        signal.signal(sig, signal.SIG_IGN)
    if init_fn is not None:
        init_fn(worker_id)


class PreemptionSignals:
    """Catches the preemption signals in the main process and remembers the first one.

    Args:
        signals: Signal names (``[]`` turns preemption handling off).
        exit_code: The exit status after the preemption checkpoint is saved.
    """

    def __init__(self, signals: Sequence[str] = DEFAULT_SIGNALS,
                 exit_code: int = PREEMPTED_EXIT_CODE) -> None:
        self.signals = parse_signals(signals)
        if not isinstance(exit_code, int) or isinstance(exit_code, bool) \
                or not 1 <= exit_code <= 125:
            raise ValueError('train_cfg.preemption.exit_code must be an int from 1 to 125 '
                             f'(126 and up mean "not run" or "killed by a signal"), got '
                             f'{exit_code!r}')
        self.exit_code = exit_code
        #: the number of the first signal received, 0 before any
        self.received = 0
        self._received_at = 0.0
        self._previous: dict = {}
        self._pid: Optional[int] = None

    def install(self) -> None:
        """Catch the signals (main thread only; elsewhere a warning says they are not)."""
        if not self.signals:
            return
        if threading.current_thread() is not threading.main_thread():
            print_log('training runs outside the main thread: preemption signals are not '
                      'caught (no checkpoint is saved when the job is stopped)',
                      logger='current', level=logging.WARNING)
            return
        self._pid = os.getpid()
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Give the signals back to the handlers they had before :meth:`install`."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def ignored_in_workers(self, init_fn: Optional[Callable[[int], None]]
                           ) -> Optional[Callable[[int], None]]:
        """A data loader ``worker_init_fn`` that makes the workers ignore the signals.

        Args:
            init_fn: The loader's own ``worker_init_fn``, or None.

        Returns:
            The wrapped init function (``init_fn`` itself without signals).
        """
        if not self.signals:
            return init_fn
        return functools.partial(_ignore_then_init, tuple(int(s) for s in self.signals),
                                 init_fn)

    def _handle(self, signum: int, frame) -> None:
        """First signal: set the flag. Second (after :data:`REPEAT_AFTER_S`): end the process
        at once, by that signal."""
        if os.getpid() != self._pid:  # a forked child that inherited the handler
            return
        name = signal.Signals(signum).name
        if self.received and time.monotonic() - self._received_at < REPEAT_AFTER_S:
            return
        if self.received:
            sys.stderr.write(f'{name} received again: stopping at once, without saving\n')
            sys.stderr.flush()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received, self._received_at = signum, time.monotonic()
        print_log(f'{name} received: stopping after this iteration, once every process has '
                  f'saved a checkpoint (exit code {self.exit_code}); send it again to stop '
                  'at once without saving', logger='current', level=logging.WARNING)


def _checkpoint_hook(runner) -> Optional[CheckpointHook]:
    """The run's checkpoint hook (the first one), whose folder and options are used."""
    return next((hook for hook in runner.hooks if isinstance(hook, CheckpointHook)), None)


def save_preemption_checkpoint(runner, signum: int, batch_idx: int) -> str:
    """Save an iteration checkpoint of the iteration just trained, on every rank, record it
    in ``last_checkpoint`` and log one line naming it; return once rank 0 has written it.

    Called from ``after_train_iter`` time (before the loop counts the iteration).

    Args:
        runner: The runner.
        signum: The agreed signal.
        batch_idx: The batch index of the iteration in its epoch.

    Returns:
        The checkpoint's path.
    """
    hook = _checkpoint_hook(runner)
    out_dir = getattr(hook, 'out_dir', None) or runner.work_dir
    filename = f'iter_{runner.iter + 1}.pth'
    options = dict(file_client_args=hook.file_client_args, save_optimizer=hook.save_optimizer,
                   save_param_scheduler=hook.save_param_scheduler,
                   backend_args=hook.backend_args, **hook.args) if hook is not None else {}
    # AtomicCheckpointHook's filter of mmengine's warnings about its unused file client
    quiet = getattr(hook, '_unused_file_client_quiet', contextlib.nullcontext)
    with quiet():
        runner.save_checkpoint(out_dir, filename, by_epoch=False, **options)
    path = osp.join(out_dir, filename)
    runner.message_hub.update_info('last_ckpt', path)
    if runner.rank == 0:
        write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), path)
        print_log(f'preempted ({signal.Signals(signum).name}): saved {path} after iteration '
                  f'{runner.iter + 1} (epoch {runner.epoch + 1}, batch {batch_idx + 1}); '
                  'continue with --resume', logger='current', level=logging.WARNING)
    if is_distributed():
        dist.barrier()  # no rank exits (and makes a launcher stop the others) before the save
    return path
