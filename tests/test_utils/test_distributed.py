"""Gather and Shuffle BN helpers in a real 2-process gloo group (unequal batch sizes too)."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import free_port
from mmmoco.models.heads import MoCoQueueHead
from mmmoco.utils.distributed import all_gather_batches, shuffle_batch, unshuffle_batch


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.manual_seed(rank)  # rank 0's permutation must win: it is broadcast
    sizes = [3, 2]
    local = torch.arange(sizes[rank], dtype=torch.float32).unsqueeze(1) + 10 * rank
    gathered, got_sizes = all_gather_batches(local)
    shuffled, perm, _ = shuffle_batch(local)
    # a stand-in "key encoder": doubles its input
    restored = unshuffle_batch(shuffled * 2, perm, got_sizes)
    head = MoCoQueueHead(feat_dim=1, queue_len=4)
    head.enqueue(local)
    torch.save(dict(gathered=gathered, sizes=got_sizes, shuffled=shuffled, perm=perm,
                    restored=restored, local=local, queue=head.queue.clone(),
                    ptr=int(head.queue_ptr)), f'{out_dir}/rank{rank}.pt')
    dist.destroy_process_group()


def test_gather_shuffle_unshuffle_and_enqueue_across_two_ranks(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pt') for r in range(2))
    expected = torch.tensor([[0.], [1.], [2.], [10.], [11.]])
    assert r0['sizes'] == r1['sizes'] == [3, 2]
    assert torch.equal(r0['gathered'], expected) and torch.equal(r1['gathered'], expected)
    # both ranks use rank 0's permutation; shares are disjoint and cover the global batch
    assert torch.equal(r0['perm'], r1['perm'])
    assert sorted(torch.cat([r0['shuffled'], r1['shuffled']]).flatten().tolist()) == \
        expected.flatten().tolist()
    assert r0['shuffled'].shape[0] == 3 and r1['shuffled'].shape[0] == 2
    # unshuffle returns each rank's own samples, in order, through the "encoder"
    assert torch.equal(r0['restored'], 2 * r0['local'])
    assert torch.equal(r1['restored'], 2 * r1['local'])
    # the queue holds the keys of both ranks (last 4 of 5), identically on both ranks
    assert torch.equal(r0['queue'], r1['queue'])
    assert sorted(r0['queue'].flatten().tolist()) == [1., 2., 10., 11.]
    assert r0['ptr'] == r1['ptr'] == 0


def test_single_process_shuffle_is_a_local_permutation():
    x = torch.arange(6.).unsqueeze(1)
    shuffled, perm, sizes = shuffle_batch(x)
    assert sizes == [6] and sorted(shuffled.flatten().tolist()) == x.flatten().tolist()
    assert torch.equal(unshuffle_batch(shuffled + 1, perm, sizes), x + 1)
