"""Float32 embeddings and similarities under mixed precision.

With bf16 (8 significant bits) a cosine similarity near 1 is rounded to about 2^-8, which at a
temperature of 0.07 moves each InfoNCE logit by about 0.06 before the softmax over the whole
queue. The heads, their L2 normalisation and the similarity products therefore run in float32
with autocast off, while the backbones keep the reduced precision that makes them fast.
"""
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from .pooling import Features


@contextmanager
def autocast_off(device: torch.device) -> Iterator[None]:
    """Run the block without autocast on ``device``'s type (a no-op where none is active).

    Args:
        device: Device of the tensors the block computes on.

    Yields:
        Nothing; the block runs in the dtypes of its inputs.
    """
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def float32_features(features: Features) -> Features:
    """The backbone's output cast to float32, keeping its structure (tensor or tuple).

    Args:
        features: A tensor or a tuple/list of tensors.

    Returns:
        The same structure with every floating-point tensor in float32.
    """
    if isinstance(features, (tuple, list)):
        return type(features)(f.float() for f in features)
    return features.float()


def float32_head(head: Callable[[Features], torch.Tensor], features: Features) -> torch.Tensor:
    """``head(features)`` computed in float32 with autocast off (projector, predictor).

    Args:
        head: A module (or callable) taking backbone features.
        features: The backbone's output, in any floating dtype.

    Returns:
        The head's output in float32.
    """
    first = features[-1] if isinstance(features, (tuple, list)) else features
    with autocast_off(first.device):
        return head(float32_features(features))
