"""Projection necks: backbone features -> embedding for the contrastive loss.

Every neck takes a feature map (N, C, H, W), which it averages over space, or a feature vector
(N, C) such as a ViT's class token, or the backbone's tuple of either (it uses the last).
"""
from typing import List, Optional

import torch
from mmengine.model import BaseModule
from torch import nn

from mmmoco.models.utils import build_norm_layer
from mmmoco.models.utils.pooling import Features, pooled_features
from mmmoco.registry import MODELS
from mmmoco.utils.checks import check_positive_int


@MODELS.register_module()
class LinearNeck(BaseModule):
    """MoCo v1 projection: global average pooling then one fc layer (2048 -> 128 for R50).

    Args:
        in_channels: Channels of the backbone's last feature map (or feature vector).
        out_channels: Embedding dimension.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int, out_channels: int = 128,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_positive_int(in_channels, 'neck in_channels')
        self.out_channels = check_positive_int(out_channels, 'neck out_channels')
        self.fc = nn.Linear(in_channels, out_channels)

    def forward(self, inputs: Features) -> torch.Tensor:
        """Project the last backbone output.

        Args:
            inputs: A feature map (N, C, H, W), a vector (N, C), or the backbone's tuple.

        Returns:
            Embeddings of shape (N, out_channels), not normalised.
        """
        return self.fc(pooled_features(inputs))


def _mlp_layers(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int,
                norm_cfg: Optional[dict], last_norm_cfg: Optional[dict],
                bias: bool) -> List[nn.Module]:
    """The layers of :class:`MLPNeck`, in order (see there)."""
    layers: List[nn.Module] = []
    for index in range(num_layers):
        last = index == num_layers - 1
        width_in = in_channels if index == 0 else hidden_channels
        width_out = out_channels if last else hidden_channels
        layers.append(nn.Linear(width_in, width_out, bias=bias))
        if not last:
            if norm_cfg is not None:
                layers.append(build_norm_layer(norm_cfg, width_out, ndim=1))
            layers.append(nn.ReLU(inplace=True))
        elif last_norm_cfg is not None:
            layers.append(build_norm_layer(last_norm_cfg, width_out, ndim=1))
    return layers


@MODELS.register_module()
class MLPNeck(BaseModule):
    """An MLP projection (or prediction) head after global average pooling.

    ``num_layers`` Linear layers ``in -> hidden -> ... -> hidden -> out``; after each but the
    last come an optional norm (``norm_cfg``) and ReLU; after the last an optional norm
    (``last_norm_cfg``). The defaults are MoCo v2's projection (2048 -> 2048 -> ReLU -> 128,
    layers ``mlp.0`` and ``mlp.2``). MoCo v3's projector (R50: 2 layers, ViT: 3 layers, hidden
    4096, out 256, BN in the hidden layers, a last BN without affine) and predictor (2 layers,
    hidden 4096, no last norm) are ``norm_cfg=dict(type='SyncBN')`` and
    ``last_norm_cfg=dict(type='SyncBN', affine=False)`` or ``None``; as in the reference code,
    their Linear layers have no bias.

    Args:
        in_channels: Channels of the backbone's last feature map (or feature vector).
        hidden_channels: Width of the hidden layers.
        out_channels: Embedding dimension.
        num_layers: Number of Linear layers, >= 2.
        norm_cfg: Norm after every hidden Linear (``build_norm_layer`` with ``ndim=1``: BN is
            BatchNorm1d), or None.
        last_norm_cfg: Norm after the last Linear, or None.
        bias: Whether the Linear layers have a bias; None: only without ``norm_cfg`` (a bias
            before BN is redundant; the reference v3 MLPs have none, the last layer included).
        init_cfg: mmengine init config.

    Raises:
        TypeError: If a size is not an int.
        ValueError: If a size is < 1 or ``num_layers`` < 2.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 2048, out_channels: int = 128,
                 num_layers: int = 2, norm_cfg: Optional[dict] = None,
                 last_norm_cfg: Optional[dict] = None, bias: Optional[bool] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_positive_int(in_channels, 'neck in_channels')
        self.out_channels = check_positive_int(out_channels, 'neck out_channels')
        check_positive_int(hidden_channels, 'neck hidden_channels')
        if check_positive_int(num_layers, 'neck num_layers') < 2:
            raise ValueError(f'neck num_layers must be >= 2, got {num_layers}')
        if bias is None:
            bias = norm_cfg is None
        self.mlp = nn.Sequential(*_mlp_layers(in_channels, hidden_channels, out_channels,
                                              num_layers, norm_cfg, last_norm_cfg, bias))

    def forward(self, inputs: Features) -> torch.Tensor:
        """Project the last backbone output.

        Args:
            inputs: A feature map (N, C, H, W), a vector (N, C), or the backbone's tuple.

        Returns:
            Embeddings of shape (N, out_channels), not normalised.
        """
        return self.mlp(pooled_features(inputs))
