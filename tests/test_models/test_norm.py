"""Split BN against per-sub-batch statistics computed by hand."""
import pytest
import torch
from torch import nn

from mmmoco.models.utils import SplitBatchNorm2d, build_norm_layer, convert_to_split_bn


def test_split_bn_normalises_each_sub_batch_with_its_own_statistics():
    torch.manual_seed(0)
    bn = SplitBatchNorm2d(3, num_splits=4, momentum=0.1)
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    y = bn(x)
    for chunk_in, chunk_out in zip(x.chunk(4), y.chunk(4)):
        mean = chunk_in.mean(dim=(0, 2, 3), keepdim=True)
        var = chunk_in.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        assert torch.allclose(chunk_out, (chunk_in - mean) / torch.sqrt(var + bn.eps), atol=1e-5)
    means = torch.stack([c.mean(dim=(0, 2, 3)) for c in x.chunk(4)]).mean(0)
    variances = torch.stack([c.var(dim=(0, 2, 3), unbiased=True) for c in x.chunk(4)]).mean(0)
    assert torch.allclose(bn.running_mean, 0.1 * means, atol=1e-6)
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * variances, atol=1e-5)


def test_split_bn_differs_from_plain_bn_and_handles_uneven_batches():
    torch.manual_seed(0)
    x = torch.randn(7, 2, 3, 3)
    split, plain = SplitBatchNorm2d(2, num_splits=2), nn.BatchNorm2d(2)
    y = split(x)
    assert not torch.allclose(y, plain(x), atol=1e-3)
    first = x[:4]  # tensor_split puts 4 then 3 samples
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
