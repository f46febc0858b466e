"""Building a frozen backbone and its data preprocessor from an evaluation config."""
import logging
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from torch import nn

from mmmoco.registry import MODELS
from mmmoco.models.utils.pretrained import load_pretrained_backbone


def config_seed(cfg: Config) -> int:
    """The evaluation seed of a config.

    Args:
        cfg: Any config.

    Returns:
        ``cfg.randomness.seed``, or 0 when unset.
    """
    return cfg.get('randomness', {}).get('seed') or 0


@contextmanager
def quiet_logger(level: int = logging.WARNING) -> Iterator[None]:
    """Raise the current mmengine logger's level for the block.

    Without a log file, mmengine's ``init_weights`` prints one INFO record per parameter
    (hundreds for a ResNet-50) to the console; a frozen-backbone tool has no use for them.

    Args:
        level: Records below this level are dropped inside the block.

    Yields:
        Nothing.
    """
    logger = MMLogger.get_current_instance()
    previous = logger.level
    logger.setLevel(max(level, previous))
    try:
        yield
    finally:
        logger.setLevel(previous)


def build_frozen_backbone(cfg: Config, pretrain: Optional[str],
                          device: torch.device) -> Tuple[nn.Module, nn.Module]:
    """Build ``cfg.model.backbone`` in eval mode, with pretrained weights or a seeded random init.

    Torch is seeded with ``cfg.randomness.seed`` (0 when unset) before building, so the
    random-init baseline is reproducible. mmengine's per-parameter initialisation records are
    not printed (:func:`quiet_logger`); the pretrained load is logged.

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
    with quiet_logger():
        backbone.init_weights()
    if pretrain:
        load_pretrained_backbone(backbone, pretrain, 'the frozen backbone')
    backbone.to(device).eval()
    preprocessor = MODELS.build(cfg.model.data_preprocessor).to(device)
    return backbone, preprocessor
