"""Issue 17, item 2, in a real 2-process gloo group: the ranks agree on flags and on the first
report; the finite check (before every save) raises on both ranks, naming the rank that saw
the non-finite tensor (before: only that rank raised, the other waited in its next collective);
after a failed collective, the rank that does not answer through the store is found and
described with its host and pid."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from conftest import free_port
from mmmoco.engine.runner.finite import NonFiniteError, check_finite_parameters
from mmmoco.utils.distributed import first_report, max_over_ranks
from mmmoco.utils.peers import record_whereabouts, silent_ranks, whereabouts


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    results = dict(pid=os.getpid())
    results['max'] = max_over_ranks([rank, 1 - rank, 0])
    results['none'] = first_report(None)
    results['first'] = first_report(f'seen by {rank}' if rank else None)
    model = nn.Linear(2, 2)
    if rank == 1:
        with torch.no_grad():
            model.bias[1] = float('inf')
    try:
        check_finite_parameters(model, 'iteration 7, before saving iter_7.pth')
    except NonFiniteError as error:
        results['finite'] = str(error)
    record_whereabouts()
    dist.barrier()
    if rank == 0:  # rank 1 is waiting in the barrier below: it cannot answer
        results['silent'] = silent_ranks(wait_s=1.0)
        results['where'] = whereabouts(1)
    dist.barrier()
    results['all_answer'] = silent_ranks(wait_s=10.0)
    torch.save(results, f'{out_dir}/rank{rank}.pt')
    dist.destroy_process_group()


def test_ranks_agree_and_silent_ranks_are_found(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    for result in ranks:
        assert result['max'] == [1, 1, 0]
        assert result['none'] is None
        assert result['first'] == (1, 'seen by 1')
        assert result['finite'].startswith('rank 1: non-finite values in bias at iteration 7, '
                                           'before saving iter_7.pth')
        assert result['all_answer'] == []
    assert ranks[0]['silent'] == [1]
    assert ranks[0]['where'] == f'host {socket.gethostname()}, pid {ranks[1]["pid"]}'
