"""MoCoQueueHead: InfoNCE against the direct formula, queue writes and wrap-around."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmmoco.models.heads import MoCoQueueHead


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_infonce_matches_direct_formula():
    head = MoCoQueueHead(feat_dim=8, queue_len=5, temperature=0.2)
    q, k = _unit(3, 8, 0), _unit(3, 8, 1)
    expected = 0.0
    for i in range(3):
        pos = math.exp(float(q[i] @ k[i]) / 0.2)
        neg = sum(math.exp(float(q[i] @ head.queue[j]) / 0.2) for j in range(5))
        expected += -math.log(pos / (pos + neg))
    assert head.loss(q, k).item() == pytest.approx(expected / 3, rel=1e-5)


def test_loss_gradient_flows_to_queries_only():
    head = MoCoQueueHead(feat_dim=4, queue_len=6, temperature=0.07)
    q = _unit(2, 4, 0).requires_grad_()
    head.loss(q, _unit(2, 4, 1)).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert not head.queue.requires_grad


def test_queue_is_normalised_buffer_in_state_dict():
    head = MoCoQueueHead(feat_dim=16, queue_len=10)
    state = head.state_dict()
    assert set(state) == {'queue', 'queue_ptr'}
    assert torch.allclose(head.queue.norm(dim=1), torch.ones(10))


def test_enqueue_wraps_around_when_queue_len_not_multiple_of_batch():
    head = MoCoQueueHead(feat_dim=4, queue_len=5)
    first, second = _unit(3, 4, 0), _unit(3, 4, 1)
    head.enqueue(first)
    assert int(head.queue_ptr) == 3
    assert torch.equal(head.queue[:3], first)
    head.enqueue(second)
    # slots 3, 4 then wrap to 0
    assert int(head.queue_ptr) == 1
    assert torch.equal(head.queue[3:5], second[:2])
    assert torch.equal(head.queue[0], second[2])
    assert torch.equal(head.queue[1:3], first[1:3])


def test_enqueue_partial_batch_and_batch_larger_than_queue():
    head = MoCoQueueHead(feat_dim=4, queue_len=4)
    head.enqueue(_unit(1, 4, 0))
    assert int(head.queue_ptr) == 1
    big = _unit(6, 4, 1)
    head.enqueue(big)  # keeps the last 4 keys, written from slot 1 on
    assert int(head.queue_ptr) == 1
    assert torch.equal(head.queue[1:4], big[2:5])
    assert torch.equal(head.queue[0], big[5])


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match='temperature'):
        MoCoQueueHead(temperature=0)
    with pytest.raises(ValueError, match='queue_len'):
        MoCoQueueHead(queue_len=0)
