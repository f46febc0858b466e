#!/usr/bin/env python
"""torchrun (``python -m torch.distributed.run``, same arguments) for tools/launch.sh, exiting
with the status of the workers instead of always 1.

torchrun exits 1 whenever a worker fails, which hides why: a preempted run (every rank saved
its checkpoint and exited with code 75, see docs/reliability.md) looks like a crash, and a job
script cannot requeue on it. Here:

- workers that failed: 75 if one of them exited with it (preempted: every rank exits only
  after the checkpoint is saved, and torchrun may then stop the slower ones with SIGTERM),
  printed as one line instead of torchrun's failure table; otherwise the status of the first
  worker that failed (killed by a signal: 128 + the signal number, as in a shell);
- torchrun itself signalled (it forwards the signal to its workers, which save, and waits for
  them): 128 + the signal number, with one line instead of a traceback.
"""
import sys
from typing import Dict, Optional

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.run import main


def shell_status(exitcode: int) -> int:
    """A process's exit code as a shell reports it.

    Args:
        exitcode: The code (negative: killed by that signal).

    Returns:
        The code itself, or 128 + the signal number.
    """
    return exitcode if exitcode >= 0 else 128 - exitcode


def preempted_status(failures: Dict[int, ProcessFailure]) -> Optional[int]:
    """mmmoco's preemption exit code if a worker exited with it.

    Args:
        failures: torchrun's failures by global rank.

    Returns:
        ``PREEMPTED_EXIT_CODE``, or None if no worker was preempted.
    """
    # imported only after a failure: mmmoco's runner package takes seconds to import
    from mmmoco.engine.runner.preemption import PREEMPTED_EXIT_CODE
    codes = {failure.exitcode for failure in failures.values()}
    return PREEMPTED_EXIT_CODE if PREEMPTED_EXIT_CODE in codes else None


def first_status(failures: Dict[int, ProcessFailure]) -> int:
    """The status of the worker that failed first.

    Args:
        failures: torchrun's failures by global rank.

    Returns:
        Its exit status as a shell reports it.
    """
    return shell_status(min(failures.values(), key=lambda failure: failure.timestamp).exitcode)


if __name__ == '__main__':
    try:
        main()
    except ChildFailedError as error:
        status = preempted_status(error.failures)
        if status is None:
            print(error.format_msg(), file=sys.stderr)
            sys.exit(first_status(error.failures))
        print(f'{error.name}: preempted, every process saved and exited with code {status}; '
              'continue with --resume', file=sys.stderr)
        sys.exit(status)
    except SignalException as error:
        print(f'launcher: {error.sigval.name} received and passed on to the workers, which '
              'stopped', file=sys.stderr)
        sys.exit(shell_status(-int(error.sigval)))
