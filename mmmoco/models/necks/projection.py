"""Projection necks: backbone feature map -> embedding for the contrastive loss."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import nn

from mmmoco.registry import MODELS


def _last_feature(inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    """Pick the last stage's feature map from a backbone's tuple output."""
    return inputs[-1] if isinstance(inputs, (tuple, list)) else inputs


@MODELS.register_module()
class LinearNeck(BaseModule):
    """MoCo v1 projection: global average pooling then one fc layer (2048 -> 128 for R50).

    Args:
        in_channels: Channels of the backbone's last feature map.
        out_channels: Embedding dimension.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int, out_channels: int = 128,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, out_channels)

    def forward(self, inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """Project the last feature map.

        Args:
            inputs: A feature map (N, C, H, W) or the backbone's tuple of them.

        Returns:
            Embeddings of shape (N, out_channels), not normalised.
        """
        return self.fc(torch.flatten(self.avgpool(_last_feature(inputs)), 1))


@MODELS.register_module()
class MLPNeck(BaseModule):
    """MoCo v2 projection: global average pooling, fc -> ReLU -> fc (2048 -> 2048 -> 128).

    Args:
        in_channels: Channels of the backbone's last feature map.
        hidden_channels: Width of the hidden layer.
        out_channels: Embedding dimension.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 2048, out_channels: int = 128,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, out_channels),
        )

    def forward(self, inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """Project the last feature map.

        Args:
            inputs: A feature map (N, C, H, W) or the backbone's tuple of them.

        Returns:
            Embeddings of shape (N, out_channels), not normalised.
        """
        return self.mlp(torch.flatten(self.avgpool(_last_feature(inputs)), 1))
