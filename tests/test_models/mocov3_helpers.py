"""Tiny MoCo v3 models for the CPU tests: a LayerNorm backbone whose samples never interact."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mmmoco.registry import MODELS


@MODELS.register_module(force=True)
class TinyTokenBackbone(nn.Module):
    """Patchify, average the patch tokens, LayerNorm: a ViT-like backbone without attention.

    Every sample is computed on its own (no BatchNorm), as in a ViT, so chunked and full-batch
    passes agree exactly.

    Args:
        channels: Width of the output vector.
        patch: Patch size (and stride) of the patch projection.
    """

    def __init__(self, channels: int = 8, patch: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, channels, patch, stride=patch)
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Return ``(features,)`` of shape (N, channels)."""
        return (self.norm(F.gelu(self.proj(x)).flatten(2).mean(2)), )


def v3_cfg(norm: str = 'BN', chunk_size: Optional[int] = None, temperature: float = 0.2,
           **kwargs) -> dict:
    """A tiny MoCoV3 config: TinyTokenBackbone (8) -> projector 8-16-8 -> predictor 8-16-8.

    Args:
        norm: Norm type of the MLPs ('BN' or 'LN' for a model exact under chunking).
        chunk_size: The model's ``chunk_size``.
        temperature: The head's temperature.
        **kwargs: Overrides of the model config's keys.

    Returns:
        The config dict.
    """
    cfg = dict(
        type='MoCoV3',
        backbone=dict(type='TinyTokenBackbone', channels=8),
        neck=dict(type='MLPNeck', in_channels=8, hidden_channels=16, out_channels=8,
                  num_layers=2, norm_cfg=dict(type=norm),
                  last_norm_cfg=dict(type=norm, affine=False)),
        predictor=dict(type='MLPNeck', in_channels=8, hidden_channels=16, out_channels=8,
                       num_layers=2, norm_cfg=dict(type=norm), last_norm_cfg=None),
        head=dict(type='ContrastiveHead', temperature=temperature),
        chunk_size=chunk_size)
    cfg.update(kwargs)
    return cfg


def build_v3(seed: int = 0, **kwargs) -> nn.Module:
    """Build, initialise and set to training mode a tiny MoCoV3 (see :func:`v3_cfg`).

    Args:
        seed: Seed of the initial weights.
        **kwargs: :func:`v3_cfg` arguments.

    Returns:
        The model; its key branch is moved away from the query branch (a fixed perturbation)
        so that a test can tell the two apart.
    """
    torch.manual_seed(seed)
    model = MODELS.build(v3_cfg(**kwargs))
    model.init_weights()
    with torch.no_grad():
        for _, target in model.momentum_pairs():
            for param in target.parameters():
                param.add_(0.05 * torch.randn_like(param))
    return model.train()


def reference_ctr(q: torch.Tensor, k: torch.Tensor, temperature: float,
                  offset: int = 0) -> torch.Tensor:
    """The reference code's ``contrastive_loss`` on already gathered keys.

    ``CE(normalize(q) @ normalize(k).T / T, arange(n) + offset) * 2T``.

    Args:
        q: Queries (n, D).
        k: Keys of the global batch (M, D).
        temperature: T.
        offset: Global index of this rank's first sample.

    Returns:
        The loss.
    """
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).t() / temperature
    labels = torch.arange(q.shape[0]) + offset
    return F.cross_entropy(logits, labels) * (2 * temperature)
