"""Gradient caching: chunked embedding gives the full-batch loss and gradient (LayerNorm),
replays dropout masks, and with BatchNorm normalises per chunk (documented difference)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmmoco.models.utils import cached_embedding
from mocov3_helpers import build_v3


def _in_batch_infonce(embeddings: torch.Tensor) -> torch.Tensor:
    """A loss in which every sample interacts with every other one (as MoCo v3's does)."""
    z = F.normalize(embeddings, dim=1)
    half = z.shape[0] // 2
    logits = z[:half] @ z[half:].t() / 0.2
    return F.cross_entropy(logits, torch.arange(half))


def _grads(module: nn.Module):
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    return grads


def _mlp(norm: nn.Module, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), norm, nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(12, 5)).train()


@pytest.mark.parametrize('chunk_size', [1, 3, 4, 10])
def test_layer_norm_model_chunked_equals_full_batch(chunk_size):
    model = _mlp(nn.LayerNorm(12))
    images = torch.randn(10, 6)
    full = model(images)
    _in_batch_infonce(full).backward()
    expected = _grads(model)
    cached = cached_embedding(model, images, chunk_size, modules=[model])
    assert cached.requires_grad and torch.allclose(cached, full, atol=1e-6)
    loss = _in_batch_infonce(cached)
    assert torch.allclose(loss, _in_batch_infonce(full), atol=1e-6)
    loss.backward()
    for got, want in zip(_grads(model), expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_first_pass_builds_no_graph_and_second_pass_runs_in_backward():
    model = _mlp(nn.LayerNorm(12))
    grad_enabled = []
    model.register_forward_hook(lambda m, i, out: grad_enabled.append(out.requires_grad))
    cached = cached_embedding(model, torch.randn(8, 6), 4)
    assert grad_enabled == [False, False]  # two chunks, no activations kept
    _in_batch_infonce(cached).backward()
    assert grad_enabled == [False, False, True, True]


def test_dropout_masks_are_replayed_in_the_second_pass():
    """The gradient equals that of one graph-building pass with the same masks."""
    model = _mlp(nn.LayerNorm(12), dropout=0.5)
    images = torch.randn(8, 6)
    torch.manual_seed(7)
    reference = torch.cat([model(chunk) for chunk in images.split(3)])
    _in_batch_infonce(reference).backward()
    expected = _grads(model)
    torch.manual_seed(7)
    cached = cached_embedding(model, images, 3)
    assert torch.equal(cached, reference.detach())
    _in_batch_infonce(cached).backward()
    for got, want in zip(_grads(model), expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_batch_norm_statistics_are_per_chunk():
    """With BatchNorm the chunked result is that of per-chunk statistics, not the batch's:
    exact against a per-chunk pass, different from the full batch. The running statistics
    are updated once per chunk (the second pass leaves them alone)."""
    model = _mlp(nn.BatchNorm1d(12))
    images = torch.randn(8, 6) * 3 + torch.linspace(-2, 2, 8).unsqueeze(1)
    per_chunk = torch.cat([model(chunk) for chunk in images.split(4)])
    _in_batch_infonce(per_chunk).backward()
    expected = _grads(model)
    running_mean = model[1].running_mean.clone()
    model[1].reset_running_stats()
    full = model(images)
    _in_batch_infonce(full).backward()
    full_batch = _grads(model)
    model[1].reset_running_stats()

    cached = cached_embedding(model, images, 4, modules=[model])
    assert torch.allclose(cached, per_chunk, atol=1e-6)
    assert not torch.allclose(cached, full, atol=1e-3)
    _in_batch_infonce(cached).backward()
    got = _grads(model)
    assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(got, expected))
    assert not all(torch.allclose(g, w, atol=1e-3) for g, w in zip(got, full_batch))
    assert int(model[1].num_batches_tracked) == 2
    assert torch.allclose(model[1].running_mean, running_mean)


def test_bf16_autocast_is_replayed_in_the_second_pass():
    model = _mlp(nn.LayerNorm(12))
    images = torch.randn(8, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        full = model(images)
        _in_batch_infonce(full).backward()
        expected = _grads(model)
        cached = cached_embedding(model, images, 4)
        assert cached.dtype == torch.bfloat16
        _in_batch_infonce(cached).backward()
    for got, want in zip(_grads(model), expected):
        assert torch.allclose(got, want, rtol=1e-2, atol=1e-3)


def _v3_grads(chunk_size):
    model = build_v3(norm='LN', chunk_size=chunk_size)
    gen = torch.Generator().manual_seed(3)
    views = [torch.randn(10, 3, 8, 8, generator=gen) for _ in range(2)]
    losses = model.loss(views)
    losses['loss'].backward()
    return losses, [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_mocov3_chunked_loss_and_gradient_equal_the_full_batch():
    full, full_grads = _v3_grads(None)
    chunked, chunked_grads = _v3_grads(4)
    assert torch.allclose(chunked['loss'], full['loss'], atol=1e-6)
    assert torch.equal(chunked['acc_top1'], full['acc_top1'])
    assert len(chunked_grads) == len(full_grads) > 0
    for got, want in zip(chunked_grads, full_grads):
        assert torch.allclose(got, want, atol=1e-6)


def test_mocov3_says_gradient_caching_is_on():
    """Issue 20, item 5: ``chunk_size`` says what it turned on (one INFO line)."""
    import logging
    from mmengine.logging import MMLogger
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        build_v3(norm='LN', chunk_size=3)
        build_v3(norm='LN')
    finally:
        logger.removeHandler(handler)
    assert [m for m in messages if 'gradient caching' in m] == [
        'MoCoV3: gradient caching on: the query branch embeds each view in chunks of 3 samples '
        '(activations of one chunk at a time, the gradients of the whole batch)']
