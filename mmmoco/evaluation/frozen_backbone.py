"""Building a frozen backbone and its data preprocessor from an evaluation config."""
from typing import Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from mmmoco.registry import MODELS
from .pretrained import load_pretrained_backbone


def config_seed(cfg: Config) -> int:
    """The evaluation seed of a config.

    Args:
        cfg: Any config.

    Returns:
        ``cfg.randomness.seed``, or 0 when unset.
    """
    return cfg.get('randomness', {}).get('seed') or 0


def build_frozen_backbone(cfg: Config, pretrain: Optional[str],
                          device: torch.device) -> Tuple[nn.Module, nn.Module]:
    """Build ``cfg.model.backbone`` in eval mode, with pretrained weights or a seeded random init.

    Torch is seeded with ``cfg.randomness.seed`` (0 when unset) before building, so the
    random-init baseline is reproducible.

    Args:
        cfg: A config with ``model.backbone`` and ``model.data_preprocessor``.
        pretrain: An mmmoco checkpoint or an extracted backbone file, loaded strictly;
            ``None`` keeps the random init.
        device: Where the backbone and the preprocessor go.

    Returns:
        The backbone (eval mode) and the data preprocessor, both on ``device``.

    Raises:
        ValueError: If ``pretrain`` does not match the backbone (names the file).
    """
    torch.manual_seed(config_seed(cfg))
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    if pretrain:
        load_pretrained_backbone(backbone, pretrain)
    backbone.to(device).eval()
    preprocessor = MODELS.build(cfg.model.data_preprocessor).to(device)
    return backbone, preprocessor
