"""Gather and Shuffle BN helpers in a real 2-process gloo group, unequal and equal batch sizes
(the equal case takes the unpadded path)."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import free_port
from mmmoco.models.utils.key_queue import KeyQueue
from mmmoco.utils.distributed import (all_gather_batches, gather_batch_sizes, shuffle_batch,
                                      unshuffle_batch)

CASES = {'unequal': [3, 2], 'equal': [3, 3]}


def _exchange(rank: int, sizes) -> dict:
    """Run every helper on this rank's batch of ``sizes[rank]`` samples."""
    local = torch.arange(sizes[rank], dtype=torch.float32).unsqueeze(1) + 10 * rank
    gathered, got_sizes = all_gather_batches(local)
    known, _ = all_gather_batches(local, got_sizes)  # sizes passed in: no extra collective
    shuffled, perm, shuffle_sizes = shuffle_batch(local)
    # a stand-in "key encoder": doubles its input
    restored = unshuffle_batch(shuffled * 2, perm, shuffle_sizes)
    return dict(gathered=gathered, known=known, sizes=got_sizes, shuffled=shuffled, perm=perm,
                restored=restored, local=local, shuffle_sizes=shuffle_sizes)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.manual_seed(rank)  # rank 0's permutation must win: it is broadcast
    results = {name: _exchange(rank, sizes) for name, sizes in CASES.items()}
    results['batch_sizes'] = gather_batch_sizes(4 + rank, torch.device('cpu'))
    queue = KeyQueue(feat_dim=1, queue_len=4)
    queue.enqueue(results['unequal']['local'])
    results.update(queue=queue.keys.clone(), ptr=int(queue.ptr))
    torch.save(results, f'{out_dir}/rank{rank}.pt')
    dist.destroy_process_group()


def test_gather_shuffle_unshuffle_and_enqueue_across_two_ranks(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    assert ranks[0]['batch_sizes'] == ranks[1]['batch_sizes'] == [4, 5]
    for name, sizes in CASES.items():
        r0, r1 = (r[name] for r in ranks)
        expected = torch.cat([torch.arange(n, dtype=torch.float32) + 10 * rank
                              for rank, n in enumerate(sizes)]).unsqueeze(1)
        assert r0['sizes'] == r1['sizes'] == r0['shuffle_sizes'] == sizes, name
        for r in (r0, r1):
            assert torch.equal(r['gathered'], expected) and torch.equal(r['known'], expected)
        # both ranks use rank 0's permutation, and rank r holds the global samples
        # perm[offset_r:offset_r + n_r], in that order
        assert torch.equal(r0['perm'], r1['perm'])
        perm = r0['perm']
        assert torch.equal(r0['shuffled'], expected[perm[:sizes[0]]]), name
        assert torch.equal(r1['shuffled'], expected[perm[sizes[0]:]]), name
        # unshuffle returns each rank's own samples, in order, through the "encoder"
        assert torch.equal(r0['restored'], 2 * r0['local'])
        assert torch.equal(r1['restored'], 2 * r1['local'])
    # the queue holds the keys of both ranks (last 4 of 5), identically on both ranks
    assert torch.equal(ranks[0]['queue'], ranks[1]['queue'])
    assert sorted(ranks[0]['queue'].flatten().tolist()) == [1., 2., 10., 11.]
    assert ranks[0]['ptr'] == ranks[1]['ptr'] == 0


def test_single_process_shuffle_is_a_local_permutation():
    x = torch.arange(6.).unsqueeze(1)
    shuffled, perm, sizes = shuffle_batch(x)
    assert sizes == [6] and torch.equal(shuffled, x[perm])
    assert torch.equal(unshuffle_batch(shuffled + 1, perm, sizes), x + 1)
    gathered, sizes = all_gather_batches(x)
    assert gathered is x and sizes == [6]
