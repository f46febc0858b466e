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
from typing import Dict

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.run import main

#: mmmoco.engine.runner.preemption.PREEMPTED_EXIT_CODE, written out: importing mmmoco's runner
#: package takes seconds (tests/test_tools/test_launch_ranks.py checks that they agree).
PREEMPTED_EXIT_CODE = 75


def shell_status(exitcode: int) -> int:
    """A process's exit code as a shell reports it.

    Args:
        exitcode: The code (negative: killed by that signal).

    Returns:
        The code itself, or 128 + the signal number.
    """
    return exitcode if exitcode >= 0 else 128 - exitcode


def workers_status(failures: Dict[int, ProcessFailure]) -> int:
    """The exit status that says why the workers failed.

    Args:
        failures: torchrun's failures by global rank.

    Returns:
        :data:`PREEMPTED_EXIT_CODE` if a worker exited with it, else the status of the worker
        that failed first, as a shell reports it.
    """
    if any(failure.exitcode == PREEMPTED_EXIT_CODE for failure in failures.values()):
        return PREEMPTED_EXIT_CODE
    return shell_status(min(failures.values(), key=lambda failure: failure.timestamp).exitcode)


if __name__ == '__main__':
    try:
        main()
    except ChildFailedError as error:
        status = workers_status(error.failures)
        if status == PREEMPTED_EXIT_CODE:
            print(f'{error.name}: preempted, every process saved and exited with code '
                  f'{status}; continue with --resume', file=sys.stderr)
        else:
            print(error.format_msg(), file=sys.stderr)
        sys.exit(status)
    except SignalException as error:
        print(f'launcher: {error.sigval.name} received and passed on to the workers, which '
              'stopped', file=sys.stderr)
        sys.exit(shell_status(-int(error.sigval)))
