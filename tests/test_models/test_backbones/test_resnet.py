"""Tests of the torchvision-compatible ResNet backbone."""
from typing import Dict

import pytest
import torch
import torchvision
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models.resnet import BasicBlock, Bottleneck

from mmmoco.models.backbones import ResNet
from mmmoco.models.utils import SplitBatchNorm2d
from mmmoco.registry import MODELS


def torchvision_resnet(depth: int) -> nn.Module:
    """Build an untrained torchvision ResNet with randomised BN parameters and statistics."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.1, 0.1)
            nn.init.uniform_(module.running_mean, -0.1, 0.1)
            nn.init.uniform_(module.running_var, 0.5, 1.5)
    return model


def without_fc(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop the classifier entries of a torchvision ResNet state dict."""
    return {k: v for k, v in state_dict.items() if not k.startswith('fc.')}


@pytest.mark.parametrize('depth', [18, 50])
def test_matches_torchvision(depth: int) -> None:
    reference = torchvision_resnet(depth)
    model = ResNet(depth)
    reference_state = without_fc(reference.state_dict())
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in reference_state.items()}
    assert list(model.state_dict()) == list(reference_state)

    model.load_state_dict(reference_state, strict=True)
    result = reference.load_state_dict(model.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ['fc.bias', 'fc.weight']
    assert result.unexpected_keys == []

    reference.fc = nn.Identity()
    model.eval()
    reference.eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model(images)[-1].mean(dim=(2, 3))
        expected = reference(images)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('small_stem, strides', [(False, (4, 8, 16, 32)), (True, (1, 2, 4, 8))])
def test_multi_stage_shapes(small_stem: bool, strides) -> None:
    model = ResNet(18, out_indices=(0, 1, 2, 3), small_stem=small_stem)
    outputs = model(torch.randn(2, 3, 64, 64))
    channels = (64, 128, 256, 512)
    assert model.out_channels == list(channels) == model.feat_dims
    assert [tuple(out.shape) for out in outputs] == \
        [(2, c, 64 // s, 64 // s) for c, s in zip(channels, strides)]


def test_small_stem_stride_two_halves_every_stage() -> None:
    model = ResNet(18, out_indices=(0, 3), small_stem=True, small_stem_stride=2,
                   base_channels=32)
    outputs = model(torch.randn(2, 3, 28, 28))
    assert [tuple(out.shape) for out in outputs] == [(2, 32, 14, 14), (2, 256, 2, 2)]
    assert set(model.state_dict()) == set(ResNet(18).state_dict())


def test_small_stem_keeps_keys() -> None:
    model = ResNet(18, small_stem=True)
    assert model.state_dict()['conv1.weight'].shape == (64, 3, 3, 3)
    assert set(model.state_dict()) == set(ResNet(18).state_dict())


@pytest.mark.parametrize('depth, expansion', [(18, 1), (50, 4)])
def test_base_channels_scales_every_stage(depth: int, expansion: int) -> None:
    model = ResNet(depth, out_indices=(0, 1, 2, 3), small_stem=True, base_channels=16)
    assert model.state_dict()['conv1.weight'].shape == (16, 3, 3, 3)
    assert set(model.state_dict()) == set(ResNet(depth).state_dict())
    channels = [16 * 2**i * expansion for i in range(4)]
    assert model.out_channels == channels
    outputs = model(torch.randn(2, 3, 28, 28))
    assert [out.shape[1] for out in outputs] == channels
    narrow = sum(p.numel() for p in model.parameters())
    assert narrow < sum(p.numel() for p in ResNet(depth).parameters()) / 10


def test_out_channels_bottleneck_and_order() -> None:
    model = ResNet(50, out_indices=(3, 1), in_channels=1)
    assert model.out_channels == [2048, 512]
    outputs = model(torch.randn(2, 1, 32, 32))
    assert [out.shape[1] for out in outputs] == [2048, 512]


def test_registered() -> None:
    model = MODELS.build(dict(type='ResNet', depth=18, out_indices=[2]))
    assert isinstance(model, ResNet)
    assert model.out_indices == (2, )


def test_frozen_stages() -> None:
    model = ResNet(18, frozen_stages=1)
    model.train()
    frozen = [model.conv1, model.bn1, model.layer1]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training
    assert all(not m.training for m in model.layer1.modules())
    assert model.layer2[0].bn1.training

    stem_mean = model.bn1.running_mean.clone()
    layer1_mean = model.layer1[0].bn1.running_mean.clone()
    layer2_mean = model.layer2[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(model.bn1.running_mean, stem_mean, rtol=0, atol=0)
    torch.testing.assert_close(model.layer1[0].bn1.running_mean, layer1_mean, rtol=0, atol=0)
    assert not torch.equal(model.layer2[0].bn1.running_mean, layer2_mean)


def test_frozen_stem_only() -> None:
    model = ResNet(18, frozen_stages=0)
    model.train()
    assert not model.conv1.weight.requires_grad and not model.bn1.training
    assert model.layer1[0].bn1.training and model.layer1[0].conv1.weight.requires_grad


def test_norm_eval() -> None:
    model = ResNet(18, norm_eval=True)
    model.train()
    assert model.training and model.layer1[0].training
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert all(p.requires_grad for p in model.parameters())


def test_default_init() -> None:
    model = ResNet(18)
    model.init_weights()
    assert torch.equal(model.bn1.weight, torch.ones(64))
    assert torch.equal(model.layer1[0].bn2.bias, torch.zeros(64))
    assert model.layer1[0].bn2.weight.abs().min() > 0


@pytest.mark.parametrize('depth, block_type', [(18, BasicBlock), (50, Bottleneck)])
def test_zero_init_residual(depth: int, block_type) -> None:
    model = ResNet(depth, zero_init_residual=True)
    model.init_weights()
    model.eval()
    blocks = [b for b in model.modules() if isinstance(b, (BasicBlock, Bottleneck))]
    assert blocks and all(isinstance(b, block_type) for b in blocks)
    last_bn = 'bn3' if block_type is Bottleneck else 'bn2'
    assert all(torch.count_nonzero(getattr(b, last_bn).weight) == 0 for b in blocks)

    x = model.maxpool(model.relu(model.bn1(model.conv1(torch.randn(2, 3, 32, 32)))))
    with torch.no_grad():
        for block in blocks:
            shortcut = x if block.downsample is None else block.downsample(x)
            expected = torch.relu(shortcut + getattr(block, last_bn).bias.view(1, -1, 1, 1))
            x = block(x)
            torch.testing.assert_close(x, expected)


def test_pretrained_init_cfg(tmp_path) -> None:
    reference = torchvision_resnet(18)
    checkpoint = tmp_path / 'resnet18.pth'
    torch.save(reference.state_dict(), checkpoint)
    model = ResNet(18, init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    model.init_weights()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[key], rtol=0, atol=0)


def test_split_bn() -> None:
    model = ResNet(18, norm_cfg=dict(type='SplitBN', num_splits=4))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(isinstance(m, SplitBatchNorm2d) and m.num_splits == 4 for m in norms)
    assert set(model.state_dict()) == set(ResNet(18).state_dict())


def test_sync_bn() -> None:
    model = ResNet(18, norm_cfg=dict(type='SyncBN'))
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)


def test_norm_requires_grad_false() -> None:
    model = ResNet(18, norm_cfg=dict(type='BN', requires_grad=False))
    assert not model.bn1.weight.requires_grad
    assert model.conv1.weight.requires_grad


@pytest.mark.parametrize('kwargs, message', [
    (dict(depth=20), 'depth'),
    (dict(depth=18, out_indices=(4, )), 'out_indices'),
    (dict(depth=18, out_indices=(-1, )), 'out_indices'),
    (dict(depth=18, out_indices=()), 'out_indices'),
    (dict(depth=18, out_indices=(1, 1)), 'out_indices'),
    (dict(depth=18, frozen_stages=5), 'frozen_stages'),
    (dict(depth=18, frozen_stages=-2), 'frozen_stages'),
    (dict(depth=18, base_channels=0), 'base_channels'),
    (dict(depth=18, base_channels=8.5), 'base_channels'),
    (dict(depth=18, small_stem=True, small_stem_stride=3), 'small_stem_stride'),
    (dict(depth=18, small_stem_stride=2), 'small_stem=True'),
])
def test_bad_config(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResNet(**kwargs)


def test_bad_depth_names_allowed_depths() -> None:
    with pytest.raises(ValueError, match=r'\[18, 34, 50, 101, 152\]'):
        ResNet(20)


def test_loads_into_mmdet_resnet() -> None:
    pytest.importorskip('mmdet')
    from mmdet.models.backbones import ResNet as MMDetResNet
    theirs = MMDetResNet(depth=50, style='pytorch')
    theirs.load_state_dict(ResNet(50).state_dict(), strict=True)


def test_loads_into_mmseg_resnet() -> None:
    pytest.importorskip('mmseg')
    from mmseg.models.backbones import ResNet as MMSegResNet
    theirs = MMSegResNet(depth=50, style='pytorch')
    theirs.load_state_dict(ResNet(50).state_dict(), strict=True)
