"""Vision Transformer backbone of MoCo v3, built on timm's ``VisionTransformer``.

The module tree, and so the state dict, is timm's: ``patch_embed.proj``, ``cls_token``,
``pos_embed``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``
(no ``head``). Extracted weights therefore load into timm's ``vit_small_patch16_224`` /
``vit_base_patch16_224`` and into the converters of DeiT, mmpretrain and mmseg that read timm
names. On top of timm it applies the choices of MoCo v3 (Chen, Xie, He 2021):

- a fixed 2-D sin-cos position embedding (a buffer, never trained), zero for the class token;
- LayerNorm with eps 1e-6, a class token initialised with std 1e-6;
- xavier-uniform linear layers, the qkv projection initialised as three separate q/k/v
  matrices (timm's ``'moco'`` weight init), zero biases;
- the patch projection initialised xavier-uniform on its flattened kernel and, with
  ``freeze_patch_embed``, frozen (the paper's "random patch projection" stability trick).
"""
import math
from functools import partial
from typing import Dict, Tuple, Union

import torch
from timm.models.vision_transformer import VisionTransformer as TimmVisionTransformer
from torch import nn

from mmmoco.registry import MODELS

#: Width, depth and heads of the named architectures. ViT-Small has 12 heads as in MoCo v3
#: (DeiT's ViT-S has 6); the number of heads does not change any weight shape.
ARCH_SETTINGS: Dict[str, Dict[str, int]] = {
    'small': dict(embed_dims=384, depth=12, num_heads=12),
    'base': dict(embed_dims=768, depth=12, num_heads=12),
}

#: What :meth:`VisionTransformer.forward` returns: the class token (N, D) after the final norm,
#: or the patch tokens after the final norm as a map (N, D, H / patch, W / patch).
OUT_TYPES = ('cls_token', 'featmap')

LAYER_NORM_EPS = 1e-6


def sincos_position_embedding(grid_size: Tuple[int, int], embed_dims: int,
                              temperature: float = 10000.) -> torch.Tensor:
    """The fixed 2-D sin-cos position embedding of MoCo v3, with a zero class-token entry.

    Each quarter of the ``embed_dims`` channels holds ``sin(r * w_k)``, ``cos(r * w_k)``,
    ``sin(c * w_k)``, ``cos(c * w_k)`` for the patch at row ``r`` and column ``c``, with
    ``w_k = temperature ** (-k / (embed_dims / 4))``, ``k = 0 .. embed_dims / 4 - 1``. Tokens
    are in row-major order, as the patch embedding flattens them.

    Args:
        grid_size: Patch grid (rows, columns).
        embed_dims: Token width, a multiple of 4.
        temperature: Base of the geometric frequency progression.

    Returns:
        The embedding, shape (1, 1 + rows * columns, embed_dims); row 0 (class token) is zero.

    Raises:
        ValueError: If ``embed_dims`` is not a multiple of 4.
    """
    if embed_dims % 4 != 0:
        raise ValueError(f'VisionTransformer: the sin-cos position embedding needs embed_dims '
                         f'divisible by 4, got {embed_dims}')
    quarter = embed_dims // 4
    omega = temperature ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(grid_size[0], dtype=torch.float64),
                                torch.arange(grid_size[1], dtype=torch.float64), indexing='ij')
    row_angles = rows.reshape(-1, 1) * omega
    col_angles = cols.reshape(-1, 1) * omega
    patches = torch.cat([row_angles.sin(), row_angles.cos(), col_angles.sin(),
                         col_angles.cos()], dim=1)
    cls_token = torch.zeros(1, embed_dims, dtype=torch.float64)
    return torch.cat([cls_token, patches]).unsqueeze(0).float()


def arch_settings(arch: Union[str, dict]) -> Dict[str, float]:
    """Resolve ``arch`` to its width, depth, heads and MLP ratio.

    Args:
        arch: ``'small'``, ``'base'``, or a dict with ``embed_dims``, ``depth``,
            ``num_heads`` and optionally ``mlp_ratio`` (default 4).

    Returns:
        ``embed_dims``, ``depth``, ``num_heads`` and ``mlp_ratio``.

    Raises:
        ValueError: For an unknown name, missing or unknown keys, or heads that do not divide
            the width.
    """
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'VisionTransformer: arch must be one of {sorted(ARCH_SETTINGS)} '
                             f'or a dict, got {arch!r}')
        settings = dict(ARCH_SETTINGS[arch])
    else:
        settings = dict(arch)
    settings.setdefault('mlp_ratio', 4.)
    required = {'embed_dims', 'depth', 'num_heads', 'mlp_ratio'}
    if set(settings) != required:
        raise ValueError(f'VisionTransformer: an arch dict needs the keys embed_dims, depth, '
                         f'num_heads (and optionally mlp_ratio), got {sorted(settings)}')
    if settings['embed_dims'] % settings['num_heads'] != 0:
        raise ValueError(f"VisionTransformer: embed_dims {settings['embed_dims']} is not "
                         f"divisible by num_heads {settings['num_heads']}")
    return settings


@MODELS.register_module()
class VisionTransformer(TimmVisionTransformer):
    """ViT backbone with MoCo v3's position embedding, initialisation and frozen patch layer.

    Args:
        arch: ``'small'`` (ViT-S: 384 wide, 12 blocks, 12 heads), ``'base'`` (ViT-B: 768, 12,
            12) or a dict ``dict(embed_dims=.., depth=.., num_heads=.., mlp_ratio=4)``.
        img_size: Input image size (an int for square images, or (height, width)); inputs
            must have exactly this size.
        patch_size: Side of the square patches.
        in_channels: Channels of the input image.
        out_type: ``'cls_token'`` returns the class token (N, D) after the final LayerNorm;
            ``'featmap'`` the patch tokens after it, as a map (N, D, H / patch, W / patch).
        freeze_patch_embed: Keep the randomly initialised patch projection fixed (its weight
            and bias do not require grad), as MoCo v3's ``--stop-grad-conv1``.
        drop_path_rate: Stochastic depth rate of the last block (linearly increasing from 0),
            for fine-tuning.

    Raises:
        ValueError: For a bad ``arch`` or ``out_type``, or a width not divisible by 4.
    """

    def __init__(self, arch: Union[str, dict] = 'small',
                 img_size: Union[int, Tuple[int, int]] = 224, patch_size: int = 16,
                 in_channels: int = 3, out_type: str = 'cls_token',
                 freeze_patch_embed: bool = True, drop_path_rate: float = 0.) -> None:
        if out_type not in OUT_TYPES:
            raise ValueError(f'VisionTransformer: out_type must be one of {OUT_TYPES}, '
                             f'got {out_type!r}')
        settings = arch_settings(arch)
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_channels, num_classes=0,
            embed_dim=settings['embed_dims'], depth=settings['depth'],
            num_heads=settings['num_heads'], mlp_ratio=settings['mlp_ratio'], qkv_bias=True,
            class_token=True, drop_path_rate=drop_path_rate,
            norm_layer=partial(nn.LayerNorm, eps=LAYER_NORM_EPS), weight_init='skip')
        self.out_type = out_type
        self.freeze_patch_embed = freeze_patch_embed
        # The learned position embedding of timm becomes a fixed buffer (same key, same shape).
        del self.pos_embed
        self.register_buffer('pos_embed', sincos_position_embedding(
            self.patch_embed.grid_size, self.embed_dim))
        if freeze_patch_embed:
            self.patch_embed.proj.requires_grad_(False)
        self.init_weights()

    @property
    def out_channels(self) -> int:
        """Width of the returned features."""
        return self.embed_dim

    def init_weights(self) -> None:
        """MoCo v3's initialisation (also what mmengine calls through the parent model).

        Linear layers: timm's ``'moco'`` init (xavier uniform, qkv as three matrices, zero
        bias); LayerNorms reset; class token normal with std 1e-6; patch projection xavier
        uniform over its flattened kernel with zero bias; the sin-cos position embedding.
        """
        super().init_weights(mode='moco')
        with torch.no_grad():
            proj = self.patch_embed.proj
            fan_in = proj.weight[0].numel()
            bound = math.sqrt(6. / float(fan_in + self.embed_dim))
            nn.init.uniform_(proj.weight, -bound, bound)
            nn.init.zeros_(proj.bias)
            self.pos_embed.copy_(sincos_position_embedding(self.patch_embed.grid_size,
                                                           self.embed_dim))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Encode a batch of images.

        Args:
            x: Images (N, C, H, W) of size ``img_size``.

        Returns:
            A one-element tuple: the class token (N, D), or the patch-token map
            (N, D, H / patch, W / patch), as selected by ``out_type``.
        """
        tokens = self.forward_features(x)
        if self.out_type == 'cls_token':
            return (tokens[:, 0], )
        patches = tokens[:, self.num_prefix_tokens:]
        rows, cols = self.patch_embed.grid_size
        return (patches.transpose(1, 2).reshape(x.shape[0], self.embed_dim, rows, cols), )
