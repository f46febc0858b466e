"""Projection necks: feature maps and feature vectors in, MoCo v2 and v3 MLP layouts."""
import pytest
import torch
from torch import nn

from mmmoco.models.necks import LinearNeck, MLPNeck


def test_necks_take_maps_vectors_and_tuples():
    torch.manual_seed(0)
    neck = MLPNeck(in_channels=8, hidden_channels=16, out_channels=4)
    maps = torch.randn(3, 8, 5, 5)
    vectors = maps.mean(dim=(2, 3))
    assert torch.allclose(neck(maps), neck(vectors), atol=1e-6)
    assert torch.allclose(neck((torch.randn(3, 2, 4, 4), maps)), neck(maps))
    assert torch.allclose(neck([vectors]), neck(vectors))
    linear = LinearNeck(in_channels=8, out_channels=4)
    assert torch.allclose(linear(maps), linear.fc(vectors), atol=1e-6)
    assert linear(vectors).shape == (3, 4)
    with pytest.raises(ValueError, match=r'\(N, C\) feature vectors'):
        neck(torch.randn(3, 8, 5))


def test_mocov2_mlp_keeps_its_layout_and_keys():
    neck = MLPNeck(in_channels=2048, hidden_channels=2048, out_channels=128)
    assert set(neck.state_dict()) == {'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias'}
    assert isinstance(neck.mlp[1], nn.ReLU)


def test_mocov3_projector_and_predictor_layouts():
    projector = MLPNeck(in_channels=32, hidden_channels=64, out_channels=16, num_layers=3,
                        norm_cfg=dict(type='BN'), last_norm_cfg=dict(type='BN', affine=False))
    layers = [type(m) for m in projector.mlp]
    assert layers == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 2 + [nn.Linear, nn.BatchNorm1d]
    linears = [m for m in projector.mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 64), (64, 64), (64, 16)]
    assert all(m.bias is None for m in linears)  # as the reference: no bias, before BN or not
    assert projector.mlp[1].affine and not projector.mlp[-1].affine
    predictor = MLPNeck(in_channels=16, hidden_channels=64, out_channels=16, num_layers=2,
                        norm_cfg=dict(type='BN'), last_norm_cfg=None)
    assert [type(m) for m in predictor.mlp] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    out = predictor(projector(torch.randn(6, 32)))
    assert out.shape == (6, 16)
    layer_norm = MLPNeck(in_channels=8, hidden_channels=8, out_channels=4,
                         norm_cfg=dict(type='LN'), bias=True)
    assert isinstance(layer_norm.mlp[1], nn.LayerNorm) and layer_norm.mlp[0].bias is not None


def test_invalid_neck_arguments_are_named():
    with pytest.raises(ValueError, match='num_layers'):
        MLPNeck(in_channels=8, num_layers=1)
    with pytest.raises(TypeError, match='out_channels'):
        MLPNeck(in_channels=8, out_channels='128')
    with pytest.raises(ValueError, match='in_channels'):
        LinearNeck(in_channels=0)
