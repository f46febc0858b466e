"""Raw pixels as a "backbone": the trivial baseline every learned representation must beat."""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule

from mmmoco.registry import MODELS


@MODELS.register_module()
class RawPixels(BaseModule):
    """Returns the (normalised) input pixels as one feature vector per image.

    The output is a single (N, C * H * W, 1, 1) map, so every tool that global-average-pools
    the last stage (kNN, the linear probe) reads the flattened pixels unchanged. With
    ``channels=1`` only the first channel is kept (grayscale images loaded as RGB repeat it).
    There are no parameters: the baseline needs no training and no checkpoint.

    Args:
        channels: Number of leading input channels kept, or None for all.
        init_cfg: mmengine init config (unused: nothing to initialise).
    """

    def __init__(self, channels: Optional[int] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int)
                                     or channels < 1):
            raise ValueError(f'RawPixels: channels must be a positive int or None, got '
                             f'{channels!r}')
        self.channels = channels

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor]:
        """Flatten each image.

        Args:
            inputs: Images (N, C, H, W).

        Returns:
            A one-element tuple with the pixels as a (N, C' * H * W, 1, 1) map.
        """
        if self.channels is not None:
            inputs = inputs[:, :self.channels]
        return (inputs.flatten(1)[:, :, None, None], )
