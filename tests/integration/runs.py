"""The one fixture module of the multi-process end-to-end tests: running the repository's
commands (tools/*.sh, tools/*.py) as a user would, one thread per process, each run on its own
rendezvous port."""
import os
import subprocess
import sys
from typing import List, Optional

from conftest import ROOT, free_port


def run_command(cmd: List[str], port: Optional[int] = None, timeout: int = 900) -> str:
    """Run a command from the repository root and return its output, failing the test with
    the output's tail if it fails.

    Args:
        cmd: The command, e.g. ``['bash', 'tools/dist_train.sh', CONFIG, '2', ...]``.
        port: The DDP rendezvous port (``PORT``); a free one when None.
        timeout: Seconds before the test fails.

    Returns:
        Its stdout and stderr, concatenated.
    """
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(port if port is not None else free_port()))
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr
