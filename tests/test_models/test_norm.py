"""Split BN against per-sub-batch statistics computed by hand."""
from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmmoco.models.utils import SplitBatchNorm2d, build_norm_layer, convert_to_split_bn
from mmmoco.models.utils.norm import sequential_momenta


def test_split_bn_normalises_each_sub_batch_with_its_own_statistics():
    torch.manual_seed(0)
    bn = SplitBatchNorm2d(3, num_splits=4, momentum=0.1)
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    y = bn(x)
    sub_batches = [x[2 * s:2 * s + 2] for s in range(4)]  # contiguous sub-batches of 2
    for s, chunk_in in enumerate(sub_batches):
        mean = chunk_in.mean(dim=(0, 2, 3), keepdim=True)
        var = chunk_in.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        assert torch.allclose(y[2 * s:2 * s + 2], (chunk_in - mean) / torch.sqrt(var + bn.eps),
                              atol=1e-5)
    means = torch.stack([c.mean(dim=(0, 2, 3)) for c in sub_batches]).mean(0)
    variances = torch.stack([c.var(dim=(0, 2, 3), unbiased=True) for c in sub_batches]).mean(0)
    assert torch.allclose(bn.running_mean, 0.1 * means, atol=1e-6)
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * variances, atol=1e-5)


def test_split_bn_differs_from_plain_bn_and_handles_uneven_batches():
    torch.manual_seed(0)
    x = torch.randn(7, 2, 3, 3)
    split, plain = SplitBatchNorm2d(2, num_splits=2), nn.BatchNorm2d(2)
    y = split(x)
    assert not torch.allclose(y, plain(x), atol=1e-3)
    first = x[:4]  # 7 = 4 + 3: the larger sub-batch takes the leading samples
    ref = (first - first.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
        first.var((0, 2, 3), unbiased=False, keepdim=True) + split.eps)
    assert torch.allclose(y[:4], ref, atol=1e-5)


def test_split_bn_eval_is_plain_bn_and_state_dict_matches():
    split, plain = SplitBatchNorm2d(4, num_splits=2), nn.BatchNorm2d(4)
    assert split.state_dict().keys() == plain.state_dict().keys()
    split.running_mean.fill_(0.5)
    plain.load_state_dict(split.state_dict())
    split.eval(), plain.eval()
    x = torch.randn(3, 4, 2, 2)
    assert torch.allclose(split(x), plain(x))


def test_build_norm_layer_and_conversion():
    assert type(build_norm_layer(dict(type='BN'), 3)) is nn.BatchNorm2d
    layer = build_norm_layer(dict(type='SplitBN', num_splits=4, requires_grad=False), 3)
    assert layer.num_splits == 4 and not layer.weight.requires_grad
    with pytest.raises(KeyError, match='GN'):
        build_norm_layer(dict(type='GN'), 3)
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    weight = model[1].weight
    converted = convert_to_split_bn(model, 4)
    assert isinstance(converted[1], SplitBatchNorm2d) and converted[1].weight is weight


def test_syncbn_is_converted_too_on_a_single_device():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.SyncBatchNorm(3))
    assert isinstance(convert_to_split_bn(model, 2)[1], SplitBatchNorm2d)


def _contiguous_members(batch: int, num_splits: int) -> List[torch.Tensor]:
    """Sample indices of each split-BN sub-batch: contiguous, the first N % S one larger."""
    splits = min(num_splits, batch)
    small, larger = divmod(batch, splits)
    sizes = [small + 1] * larger + [small] * (splits - larger)
    return list(torch.arange(batch).split(sizes))


def _interleaved_members(batch: int, num_splits: int) -> List[torch.Tensor]:
    """Sub-batches of the former formulation: the first N % S sub-batches (one larger) take
    the leading samples, and within each of the two groups sample n is in sub-batch
    n % (sub-batches in the group)."""
    splits = min(num_splits, batch)
    small, larger = divmod(batch, splits)
    boundary = larger * (small + 1)
    return [torch.arange(s, boundary, larger) for s in range(larger)] + [
        torch.arange(boundary + s, batch, splits - larger) for s in range(splits - larger)]


def _loop_split_bn(bn: SplitBatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """One batch_norm call per sub-batch, statistics by hand, sub-batches picked by index."""
    members = _contiguous_members(x.shape[0], bn.num_splits)
    output = torch.empty_like(x)
    means, variances = [], []
    for index in members:
        chunk = x[index]
        output[index] = torch.nn.functional.batch_norm(chunk, None, None, bn.weight, bn.bias,
                                                       True, 0.0, bn.eps)
        count = chunk.numel() / chunk.shape[1]
        means.append(chunk.mean(dim=(0, 2, 3)))
        variances.append(chunk.var(dim=(0, 2, 3), unbiased=False) * count / max(count - 1, 1))
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        bn.running_mean.lerp_(torch.stack(means).mean(0), momentum)
        bn.running_var.lerp_(torch.stack(variances).mean(0), momentum)
    return output


@pytest.mark.parametrize('batch, splits, momentum', [(8, 4, 0.1), (7, 3, 0.1), (10, 4, None),
                                                     (3, 8, 0.3)])
def test_split_bn_equals_the_loop(batch, splits, momentum):
    torch.manual_seed(0)
    fast = SplitBatchNorm2d(5, num_splits=splits, momentum=momentum)
    with torch.no_grad():
        fast.weight.uniform_(0.5, 1.5)
        fast.bias.uniform_(-1, 1)
    slow = SplitBatchNorm2d(5, num_splits=splits, momentum=momentum)
    slow.load_state_dict(fast.state_dict())
    for _ in range(3):  # running statistics accumulate over steps identically
        x = torch.randn(batch, 5, 3, 4) * 2 + 0.5
        x_fast, x_slow = x.clone().requires_grad_(), x.clone().requires_grad_()
        y_fast, y_slow = fast(x_fast), _loop_split_bn(slow, x_slow)
        assert torch.allclose(y_fast, y_slow, atol=1e-5)
        grad = torch.randn_like(y_fast)
        y_fast.backward(grad)
        y_slow.backward(grad)
        assert torch.allclose(x_fast.grad, x_slow.grad, atol=1e-5)
    for name in ('running_mean', 'running_var', 'num_batches_tracked'):
        assert torch.allclose(getattr(fast, name).float(), getattr(slow, name).float(),
                              atol=1e-6), name
    assert torch.allclose(fast.weight.grad, slow.weight.grad, atol=1e-4)
    assert torch.allclose(fast.bias.grad, slow.bias.grad, atol=1e-4)
    fast.eval(), slow.eval()
    x = torch.randn(4, 5, 3, 4)
    assert torch.allclose(fast(x), torch.nn.functional.batch_norm(
        x, slow.running_mean, slow.running_var, slow.weight, slow.bias, False, 0.0, slow.eps),
        atol=1e-5)


def test_split_bn_without_running_statistics_or_affine():
    x = torch.randn(6, 2, 3, 3)
    bn = SplitBatchNorm2d(2, num_splits=3, affine=False, track_running_stats=False)
    y = bn(x)
    for s in range(3):  # contiguous sub-batches of 2
        c = x[2 * s:2 * s + 2]
        ref = (c - c.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
            c.var((0, 2, 3), unbiased=False, keepdim=True) + bn.eps)
        assert torch.allclose(y[2 * s:2 * s + 2], ref, atol=1e-5)


def _interleaved_split_bn(bn: SplitBatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """The former formulation, kept as the reference: interleaved sub-batches viewed as
    (N / S, S * C, H, W) and normalised by one batch_norm call per group of equal sub-batches,
    running statistics from per-sub-batch copies of the buffers averaged afterwards."""
    splits = min(bn.num_splits, x.shape[0])
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
    momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    small, larger = divmod(x.shape[0], splits)
    boundary = larger * (small + 1)
    outputs, mean_sum, var_sum = [], 0, 0
    for part, count in ((x[:boundary], larger), (x[boundary:], splits - larger)):
        if count == 0:
            continue
        channels = part.shape[1]
        stacked = part.reshape(part.shape[0] // count, count * channels, *part.shape[2:])
        mean, var = bn.running_mean.repeat(count), bn.running_var.repeat(count)
        out = F.batch_norm(stacked, mean, var, bn.weight.repeat(count), bn.bias.repeat(count),
                           True, momentum, bn.eps)
        outputs.append(out.reshape(part.shape))
        mean_sum = mean_sum + mean.view(count, channels).sum(0)
        var_sum = var_sum + var.view(count, channels).sum(0)
    with torch.no_grad():
        bn.running_mean.copy_(mean_sum / splits)
        bn.running_var.copy_(var_sum / splits)
    return torch.cat(outputs)


@pytest.mark.parametrize('batch, splits, momentum', [(16, 4, 0.1), (11, 4, None), (6, 3, 0.5)])
def test_split_bn_matches_the_former_interleaved_formulation(batch, splits, momentum):
    """Contiguous sub-batches replaced interleaved ones: the same sub-batches (the former's
    input permuted so that its sub-batch s holds the samples of the new sub-batch s) give the
    same outputs, gradients and running statistics, to float32 rounding (atol 1e-5; running
    statistics 1e-6: the new layer reaches the mean update in successive steps)."""
    torch.manual_seed(0)
    new = SplitBatchNorm2d(4, num_splits=splits, momentum=momentum)
    with torch.no_grad():
        new.weight.uniform_(0.5, 1.5)
        new.bias.uniform_(-1, 1)
    old = SplitBatchNorm2d(4, num_splits=splits, momentum=momentum)
    old.load_state_dict(new.state_dict())
    # the sample at old position order[i] is the new layer's sample i
    order = torch.empty(batch, dtype=torch.long)
    for new_index, old_index in zip(_contiguous_members(batch, splits),
                                    _interleaved_members(batch, splits)):
        order[new_index] = old_index
    for _ in range(3):
        x = torch.randn(batch, 4, 3, 5) * 2 + 0.5
        x_new = x.clone().requires_grad_()
        x_old = torch.empty_like(x)
        x_old[order] = x
        x_old.requires_grad_()
        y_new, y_old = new(x_new), _interleaved_split_bn(old, x_old)
        assert torch.allclose(y_new, y_old[order], atol=1e-5)
        grad = torch.randn_like(x)
        y_new.backward(grad)
        y_old[order].backward(grad)
        assert torch.allclose(x_new.grad, x_old.grad[order], atol=1e-5)
    assert torch.allclose(new.weight.grad, old.weight.grad, atol=1e-4)
    assert torch.allclose(new.bias.grad, old.bias.grad, atol=1e-4)
    assert torch.allclose(new.running_mean, old.running_mean, atol=1e-6)
    assert torch.allclose(new.running_var, old.running_var, atol=1e-6)
    assert torch.equal(new.num_batches_tracked, old.num_batches_tracked)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_split_bn_keeps_channels_last_without_changing_values(dtype):
    """A channels_last input stays channels_last (no layout change for the next convolution)
    and gives the NCHW input's outputs and gradients."""
    torch.manual_seed(0)
    bn = SplitBatchNorm2d(6, num_splits=4)
    x = (torch.randn(16, 6, 5, 5) * 2 + 1).to(dtype)
    x_nchw = x.clone().requires_grad_()
    x_last = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    y_nchw, y_last = bn(x_nchw), bn(x_last)
    assert y_last.is_contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(y_nchw)
    y_nchw.backward(grad)
    y_last.backward(grad.contiguous(memory_format=torch.channels_last))
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    assert torch.allclose(y_last.float(), y_nchw.float(), atol=tolerance)
    assert torch.allclose(x_last.grad.float(), x_nchw.grad.float(), atol=tolerance)


def test_split_bn_refuses_sub_batches_of_one_value_per_channel():
    with pytest.raises(ValueError, match='num_splits 4'):
        SplitBatchNorm2d(2, num_splits=4)(torch.randn(4, 2, 1, 1))
    assert SplitBatchNorm2d(2, num_splits=4)(torch.randn(8, 2, 1, 1)).shape == (8, 2, 1, 1)


@pytest.mark.parametrize('momentum, splits', [(0.1, 4), (1.0, 3), (0.0, 2), (0.9, 8)])
def test_sequential_momenta_give_one_update_with_the_mean(momentum, splits):
    running = torch.tensor(5.0, dtype=torch.float64)
    stats = torch.randn(splits, dtype=torch.float64)
    sequential = running.clone()
    for stat, factor in zip(stats, sequential_momenta(momentum, splits)):
        sequential = (1 - factor) * sequential + factor * stat
    assert torch.allclose(sequential, (1 - momentum) * running + momentum * stats.mean())


def test_norm_layers_for_mlp_heads():
    assert type(build_norm_layer(dict(type='BN'), 8, ndim=1)) is nn.BatchNorm1d
    assert type(build_norm_layer(dict(type='BN1d'), 8)) is nn.BatchNorm1d
    assert type(build_norm_layer(dict(type='SyncBN'), 8, ndim=1)) is nn.SyncBatchNorm
    frozen = build_norm_layer(dict(type='BN', affine=False), 8, ndim=1)
    assert frozen.weight is None and frozen.bias is None
    layer_norm = build_norm_layer(dict(type='LN', eps=1e-6), 8, ndim=1)
    assert isinstance(layer_norm, nn.LayerNorm) and layer_norm.eps == 1e-6
    assert build_norm_layer(dict(type='LN', affine=False), 8, ndim=1).weight is None
    with pytest.raises(ValueError, match='SplitBN'):
        build_norm_layer(dict(type='SplitBN'), 8, ndim=1)
    with pytest.raises(TypeError, match='norm_cfg must be a dict'):
        build_norm_layer('BN', 8, ndim=1)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only')
def test_sync_bn_runs_as_plain_bn_without_cuda():
    """torch's SyncBN refuses CPU tensors once a process group runs (gloo DDP on CPU)."""
    from mmmoco.models.utils import revert_sync_bn_without_cuda
    model = nn.Sequential(nn.Linear(4, 6), nn.SyncBatchNorm(6), nn.ReLU(), nn.SyncBatchNorm(6))
    weight = model[1].weight
    converted = revert_sync_bn_without_cuda(model, 'test model')
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in converted.modules())
    assert converted[1].weight is weight
    assert set(converted.state_dict()) == set(model.state_dict())
    assert converted(torch.randn(5, 4)).shape == (5, 6)
    plain = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6))
    assert revert_sync_bn_without_cuda(plain) is plain


def test_split_bn_accepts_a_strided_input_and_frozen_parameters():
    torch.manual_seed(0)
    bn = SplitBatchNorm2d(4, num_splits=2).requires_grad_(False)
    x = torch.randn(8, 5, 4, 6)[:, 1:, :, ::2].requires_grad_()  # neither NCHW nor NHWC dense
    out = bn(x)
    out.sum().backward()
    expected = torch.cat([torch.nn.functional.batch_norm(part, None, None, training=True)
                          for part in x.detach().split(4)])
    assert torch.allclose(out, expected, atol=1e-5) and x.grad is not None
    assert bn.weight.grad is None
