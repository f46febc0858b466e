"""tools/launch_ranks.py (torchrun for tools/launch.sh) exits with the workers' status: 75 when
they were preempted (torchrun alone exits 1 for any worker failure, so a job script could not
requeue on it), else the first failure's status; and the shell tools use the runner's code."""
import importlib.util
import os.path as osp
import re

from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from conftest import ROOT
from mmmoco.engine.runner.preemption import PREEMPTED_EXIT_CODE

# loaded from its file: putting tools/ on sys.path would shadow the standard "test" package
_SPEC = importlib.util.spec_from_file_location('launch_ranks',
                                               osp.join(ROOT, 'tools', 'launch_ranks.py'))
launch_ranks = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(launch_ranks)


def _failure(rank: int, exitcode: int, timestamp: int) -> ProcessFailure:
    failure = ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=exitcode,
                             error_file='<N/A>')
    failure.timestamp = timestamp
    return failure


def test_the_exit_status_says_why_the_workers_stopped():
    preempted = {0: _failure(0, 75, 10), 1: _failure(1, -15, 9)}  # torchrun stopped rank 1
    assert launch_ranks.workers_status(preempted) == 75
    killed = {0: _failure(0, 1, 12), 1: _failure(1, -9, 10)}
    assert launch_ranks.workers_status(killed) == 128 + 9
    assert launch_ranks.workers_status({0: _failure(0, 3, 1)}) == 3


def test_the_launchers_use_the_runners_preemption_code():
    assert launch_ranks.PREEMPTED_EXIT_CODE == PREEMPTED_EXIT_CODE
    with open(osp.join(ROOT, 'tools', 'slurm_train.sh'), encoding='utf-8') as f:
        assert re.search(rf'^PREEMPTED={PREEMPTED_EXIT_CODE}\b', f.read(), re.MULTILINE)
