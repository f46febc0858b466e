"""VisionTransformer: MoCo v3's ViT on timm (fixed sin-cos positions, frozen patch layer)."""
import copy
import math

import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

from mmmoco.models.backbones import VisionTransformer
from mmmoco.models.backbones.vit import sincos_position_embedding
from mmmoco.registry import MODELS

TINY = dict(embed_dims=32, depth=2, num_heads=4)


def tiny_vit(**kwargs) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(arch=TINY, img_size=32, patch_size=8, **kwargs)


def reference_sincos(grid: int, dims: int) -> torch.Tensor:
    """MoCo v3's construction for a square grid: a 'w' and an 'h' meshgrid (ij indexing),
    flattened, each giving sin and cos of position * 10000 ** (-k / (dims / 4))."""
    grid_w, grid_h = torch.meshgrid(torch.arange(grid, dtype=torch.float32),
                                    torch.arange(grid, dtype=torch.float32), indexing='ij')
    quarter = dims // 4
    omega = 1. / 10000. ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    out_w = grid_w.flatten()[:, None] * omega[None]
    out_h = grid_h.flatten()[:, None] * omega[None]
    patches = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)
    return torch.cat([torch.zeros(1, dims), patches])[None]


def test_output_shapes():
    x = torch.randn(2, 3, 32, 32)
    (cls_token, ) = tiny_vit()(x)
    assert cls_token.shape == (2, 32)
    (featmap, ) = tiny_vit(out_type='featmap')(x)
    assert featmap.shape == (2, 32, 4, 4)
    vit = VisionTransformer(arch='small')
    assert vit.embed_dim == vit.out_channels == 384 and len(vit.blocks) == 12
    assert vit.blocks[0].attn.num_heads == 12
    (small, ) = vit(torch.randn(1, 3, 224, 224))
    assert small.shape == (1, 384)
    base = VisionTransformer(arch='base')
    assert base.embed_dim == 768 and len(base.blocks) == 12 and base.blocks[0].attn.num_heads == 12


def test_class_token_is_the_normed_first_token_and_featmap_the_patches():
    vit = tiny_vit()
    x = torch.randn(2, 3, 32, 32)
    tokens = vit.norm(vit.blocks(vit._pos_embed(vit.patch_embed(x))))
    torch.testing.assert_close(vit(x)[0], tokens[:, 0])
    vit.out_type = 'featmap'
    featmap = vit(x)[0]
    torch.testing.assert_close(featmap[:, :, 1, 2], tokens[:, 1 + 1 * 4 + 2])


def test_position_embedding_is_the_fixed_2d_sincos_and_not_a_parameter():
    vit = tiny_vit()
    torch.testing.assert_close(vit.pos_embed, reference_sincos(4, 32))
    small = VisionTransformer(arch='small')
    torch.testing.assert_close(small.pos_embed, reference_sincos(14, 384), atol=1e-6, rtol=0)
    assert 'pos_embed' not in dict(vit.named_parameters())
    assert 'pos_embed' in dict(vit.named_buffers()) and 'pos_embed' in vit.state_dict()
    # row r, column c of the grid: the first half encodes r, the second half c
    emb = sincos_position_embedding((3, 5), 8)
    token = 1 + 2 * 5 + 4  # row 2, column 4
    omega = torch.tensor([1., 1e-2])
    expected = torch.cat([(2 * omega).sin(), (2 * omega).cos(), (4 * omega).sin(),
                          (4 * omega).cos()])
    torch.testing.assert_close(emb[0, token], expected)
    with pytest.raises(ValueError, match='divisible by 4'):
        sincos_position_embedding((2, 2), 6)


def test_patch_projection_frozen_and_unchanged_after_optimizer_steps():
    vit = tiny_vit()
    frozen = [name for name, p in vit.named_parameters() if not p.requires_grad]
    assert frozen == ['patch_embed.proj.weight', 'patch_embed.proj.bias']
    before = copy.deepcopy(vit.state_dict())
    optimizer = torch.optim.AdamW(vit.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        vit(torch.randn(4, 3, 32, 32))[0].pow(2).sum().backward()
        optimizer.step()
    after = vit.state_dict()
    for key in ('patch_embed.proj.weight', 'patch_embed.proj.bias', 'pos_embed'):
        assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after['blocks.0.attn.qkv.weight'], before['blocks.0.attn.qkv.weight'])
    assert not torch.equal(after['cls_token'], before['cls_token'])

    trainable = tiny_vit(freeze_patch_embed=False)
    assert all(p.requires_grad for p in trainable.parameters())


def _uniform_bound(weight: torch.Tensor) -> float:
    """Estimate the bound of a U(-b, b) sample from its std (std = b / sqrt(3))."""
    return weight.std().item() * math.sqrt(3)


def test_reference_initialisation():
    vit = VisionTransformer(arch='small')
    dims = 384
    qkv = vit.blocks[3].attn.qkv.weight
    bound = math.sqrt(6. / (dims + dims))  # each of q, k, v is a (dims, dims) xavier matrix
    for part in qkv.detach().chunk(3):
        assert part.abs().max() <= bound
        assert _uniform_bound(part) == pytest.approx(bound, rel=0.02)
    fc1 = vit.blocks[3].mlp.fc1.weight
    assert _uniform_bound(fc1) == pytest.approx(math.sqrt(6. / (dims + 4 * dims)), rel=0.02)
    assert torch.count_nonzero(vit.blocks[3].mlp.fc1.bias) == 0
    proj = vit.patch_embed.proj.weight
    assert _uniform_bound(proj) == pytest.approx(math.sqrt(6. / (3 * 16 * 16 + dims)),
                                                 rel=0.02)
    assert torch.count_nonzero(vit.patch_embed.proj.bias) == 0
    assert 0 < vit.cls_token.std() < 1e-5
    norms = [m for m in vit.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * 12 + 1 and all(m.eps == 1e-6 for m in norms)


def test_init_through_an_mmengine_parent_keeps_the_reference_choices():
    class Parent(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = MODELS.build(dict(type='VisionTransformer', arch=TINY, img_size=32,
                                              patch_size=8))

    parent = Parent()
    with torch.no_grad():
        parent.backbone.pos_embed.normal_()
        parent.backbone.patch_embed.proj.weight.fill_(1.)
    parent.init_weights()
    vit = parent.backbone
    torch.testing.assert_close(vit.pos_embed, reference_sincos(4, 32))
    assert vit.patch_embed.proj.weight.abs().max() <= math.sqrt(6. / (3 * 64 + 32))
    assert not vit.patch_embed.proj.weight.requires_grad


def test_state_dict_loads_into_timm_vit_small_and_computes_the_same():
    timm = pytest.importorskip('timm')
    vit = VisionTransformer(arch='small').eval()
    reference = timm.create_model('vit_small_patch16_224', pretrained=False).eval()
    result = reference.load_state_dict(vit.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ['head.bias', 'head.weight']
    assert result.unexpected_keys == []
    headless = timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=0)
    headless.load_state_dict(vit.state_dict(), strict=True)
    # timm's ViT-S has 6 heads: equal outputs would be a coincidence, so compare with 12 heads
    twelve_heads = timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=0,
                                     num_heads=12).eval()
    twelve_heads.load_state_dict(vit.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], twelve_heads(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='large'), "arch must be one of \\['base', 'small'\\]"),
    (dict(arch=dict(embed_dims=32, depth=2)), 'needs the keys'),
    (dict(arch=dict(embed_dims=30, depth=2, num_heads=4)), 'not divisible by num_heads'),
    (dict(arch=dict(embed_dims=6, depth=1, num_heads=3)), 'divisible by 4'),
    (dict(arch=TINY, out_type='avg'), "out_type must be one of \\('cls_token', 'featmap'\\)"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VisionTransformer(img_size=32, patch_size=8, **kwargs)
