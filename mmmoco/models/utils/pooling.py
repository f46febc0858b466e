"""Backbone outputs as one feature vector per image (what necks, probes and monitors read)."""
from typing import Sequence, Union

import torch
import torch.nn.functional as F

Features = Union[torch.Tensor, Sequence[torch.Tensor]]


def pooled_features(inputs: Features) -> torch.Tensor:
    """The last backbone output as (N, C) vectors.

    Args:
        inputs: A feature map (N, C, H, W), a feature vector (N, C), or a tuple/list of them
            (the last is used).

    Returns:
        The feature vectors (N, C): maps are averaged over their spatial positions.

    Raises:
        ValueError: If the features are neither 2-d nor 4-d.
    """
    features = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
    if features.dim() == 4:
        return torch.flatten(F.adaptive_avg_pool2d(features, 1), 1)
    if features.dim() == 2:
        return features
    raise ValueError('necks take (N, C, H, W) feature maps or (N, C) feature vectors, got shape '
                     f'{tuple(features.shape)}')
