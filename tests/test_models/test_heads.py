"""ContrastiveHead: the InfoNCE loss and top-1 accuracy (against a KeyQueue's negatives too)."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmmoco.models.heads import ContrastiveHead
from mmmoco.models.utils import KeyQueue


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def _queue_similarities(q, k, queue):
    return torch.cat([(q * k).sum(1, keepdim=True), q @ queue.snapshot(q.dtype).t()], dim=1)


def test_infonce_against_a_queue_matches_direct_formula():
    head, queue = ContrastiveHead(temperature=0.2), KeyQueue(feat_dim=8, queue_len=5)
    q, k = _unit(3, 8, 0), _unit(3, 8, 1)
    expected = 0.0
    for i in range(3):
        pos = math.exp(float(q[i] @ k[i]) / 0.2)
        neg = sum(math.exp(float(q[i] @ queue.keys[j]) / 0.2) for j in range(5))
        expected += -math.log(pos / (pos + neg))
    loss, _ = head(_queue_similarities(q, k, queue))
    assert loss.item() == pytest.approx(expected / 3, rel=1e-5)


def test_infonce_with_labels_and_top1_accuracy():
    head = ContrastiveHead(temperature=0.5)
    similarities = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.3], [0.0, 0.1, 0.7]])
    labels = torch.tensor([0, 2, 2])
    loss, accuracy = head(similarities, labels)
    expected = sum(-math.log(math.exp(similarities[i, labels[i]] / 0.5)
                             / sum(math.exp(s / 0.5) for s in similarities[i].tolist()))
                   for i in range(3)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # rows 0 and 2 rank their positive first, row 1 does not
    assert accuracy.item() == pytest.approx(200 / 3)
    assert not accuracy.requires_grad


def test_gradient_reaches_the_queries_and_never_the_queue():
    head, queue = ContrastiveHead(temperature=0.07), KeyQueue(feat_dim=4, queue_len=6)
    # if the loss used the queue buffer itself (not a detached copy), autograd would reach it
    queue.keys.requires_grad_(True)
    q = _unit(2, 4, 0).requires_grad_()
    loss, _ = head(_queue_similarities(q, _unit(2, 4, 1), queue))
    loss.backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert queue.keys.grad is None


def test_backward_after_enqueue_uses_the_queue_as_it_was():
    """MoCo enqueues before the optimizer step: the loss's graph must hold its own copy."""
    head, queue = ContrastiveHead(temperature=0.2), KeyQueue(feat_dim=4, queue_len=6)
    q, k = _unit(3, 4, 0).requires_grad_(), _unit(3, 4, 1)
    loss, _ = head(_queue_similarities(q, k, queue))
    reference, _ = head(_queue_similarities(q, k, queue))
    expected = torch.autograd.grad(reference, q)[0]
    queue.enqueue(_unit(3, 4, 2))  # in-place write before backward
    loss.backward()
    assert torch.allclose(q.grad, expected)


@pytest.mark.parametrize('value', [0, -1.0, float('nan'), float('inf')])
def test_invalid_temperature_is_named(value):
    with pytest.raises(ValueError, match='temperature'):
        ContrastiveHead(temperature=value)


def test_non_numeric_temperature_is_named():
    assert set(ContrastiveHead().state_dict()) == set()  # the head holds no state
    with pytest.raises(TypeError, match='temperature'):
        ContrastiveHead(temperature='0.2')
