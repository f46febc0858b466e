"""KeyQueue: MoCo v1/v2's queue of negatives (writes, wrap-around, pointer, checkpoint)."""
import pytest
import torch
import torch.nn.functional as F

from mmmoco.models.utils import KeyQueue


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_queue_is_normalised_buffer_in_state_dict():
    queue = KeyQueue(feat_dim=16, queue_len=10)
    assert set(queue.state_dict()) == {'keys', 'ptr'}
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(10))


def test_enqueue_wraps_around_when_queue_len_not_multiple_of_batch():
    queue = KeyQueue(feat_dim=4, queue_len=5)
    first, second = _unit(3, 4, 0), _unit(3, 4, 1)
    queue.enqueue(first)
    assert int(queue.ptr) == 3
    assert torch.equal(queue.keys[:3], first)
    queue.enqueue(second)
    # slots 3, 4 then wrap to 0
    assert int(queue.ptr) == 1
    assert torch.equal(queue.keys[3:5], second[:2])
    assert torch.equal(queue.keys[0], second[2])
    assert torch.equal(queue.keys[1:3], first[1:3])


def test_enqueue_partial_batch_and_batch_larger_than_queue():
    queue = KeyQueue(feat_dim=4, queue_len=4)
    queue.enqueue(_unit(1, 4, 0))
    assert int(queue.ptr) == 1
    big = _unit(6, 4, 1)
    queue.enqueue(big)  # keeps the last 4 keys, written from slot 1 on
    assert int(queue.ptr) == 1
    assert torch.equal(queue.keys[1:4], big[2:5])
    assert torch.equal(queue.keys[0], big[5])


def test_pointer_is_restored_from_a_checkpoint():
    """The write position comes from the checkpointed buffer, not from the host copy."""
    saved = KeyQueue(feat_dim=4, queue_len=8)
    saved.enqueue(_unit(3, 4, 0))
    state = saved.state_dict()
    fresh = KeyQueue(feat_dim=4, queue_len=8)
    fresh.load_state_dict(state)
    batch = _unit(2, 4, 1)
    fresh.enqueue(batch)
    assert int(fresh.ptr) == 5
    assert torch.equal(fresh.keys[3:5], batch)
    assert torch.equal(fresh.keys[:3], saved.keys[:3])


def test_invalid_queue_arguments_are_named():
    with pytest.raises(TypeError, match='queue_len'):
        KeyQueue(queue_len='abc')
    with pytest.raises(ValueError, match='queue_len'):
        KeyQueue(queue_len=0)
    with pytest.raises(ValueError, match='feat_dim'):
        KeyQueue(feat_dim=-3)


def _reference_fifo(batches, queue_len, initial):
    """The queue by hand: rows written in order at a wrapping pointer."""
    rows, ptr = initial.clone(), 0
    for batch in batches:
        for key in batch[-queue_len:]:
            rows[ptr] = key
            ptr = (ptr + 1) % queue_len
    return rows, ptr


def test_snapshot_is_not_a_copy_and_survives_the_next_enqueue():
    """The graph reads the keys buffer itself; enqueue writes the next state elsewhere, so the
    rows a step's backward needs stay as they were (no copy of the whole queue per step)."""
    queue = KeyQueue(feat_dim=4, queue_len=7)
    initial = queue.keys.clone()
    batches = [_unit(3, 4, 0), _unit(2, 4, 1), _unit(5, 4, 2), _unit(9, 4, 3), _unit(3, 4, 4)]
    for step, batch in enumerate(batches):
        snapshot = queue.snapshot(torch.float32)
        assert snapshot.data_ptr() == queue.keys.data_ptr()
        before = snapshot.clone()
        queue.enqueue(batch)
        assert torch.equal(snapshot, before)  # untouched by this step's enqueue
        expected, ptr = _reference_fifo(batches[:step + 1], 7, initial)
        assert torch.equal(queue.keys, expected) and int(queue.ptr) == ptr
    assert queue.snapshot(torch.float64).dtype == torch.float64


def test_writes_from_outside_are_kept_by_the_next_enqueue():
    """load_state_dict and in-place writes go to the keys buffer only: the next enqueue must
    start from them, not from its second buffer."""
    queue = KeyQueue(feat_dim=4, queue_len=6)
    queue.enqueue(_unit(2, 4, 0))
    queue.enqueue(_unit(2, 4, 1))
    queue.keys[5] = _unit(1, 4, 2)[0]  # an in-place write between two enqueues
    written = queue.keys.clone()
    queue.enqueue(_unit(1, 4, 3))
    assert torch.equal(queue.keys[5], written[5]) and torch.equal(queue.keys[:4], written[:4])
    other = KeyQueue(feat_dim=4, queue_len=6)
    other.enqueue(_unit(3, 4, 4))
    queue.load_state_dict(other.state_dict())
    batch = _unit(2, 4, 5)
    queue.enqueue(batch)
    assert torch.equal(queue.keys[:3], other.keys[:3]) and torch.equal(queue.keys[3:5], batch)
    assert torch.equal(queue.keys[5], other.keys[5])
