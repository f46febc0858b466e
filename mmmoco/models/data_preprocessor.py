"""Data preprocessor: uint8 views from the data loader -> normalised float on the model's device."""
from typing import List, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from mmmoco.registry import MODELS

ImageBatch = Union[torch.Tensor, Sequence[torch.Tensor]]


@MODELS.register_module()
class SelfSupDataPreprocessor(BaseDataPreprocessor):
    """Stack, move, cast and normalise the image views of a batch.

    The pipeline packs uint8 CHW tensors (cheap to collate and to copy to the device); this
    preprocessor turns them into ``(x - mean) / std`` floats on the model's device. It accepts
    both mmengine collate styles: a list of per-sample tensors (``pseudo_collate``) or an
    already stacked tensor (``default_collate``).

    Args:
        mean: Per-channel mean in the 0-255 range, RGB order.
        std: Per-channel standard deviation in the 0-255 range, RGB order.
        to_rgb: Reverse the channel order (for BGR-decoded images).
        non_blocking: Copy to the device asynchronously.
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), to_rgb: bool = False,
                 non_blocking: bool = True) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std need 3 values with std > 0, got {mean}, {std}')
        self.to_rgb = to_rgb
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def _normalise(self, images: ImageBatch) -> torch.Tensor:
        """Turn one view of the batch into a normalised float tensor on the device.

        Args:
            images: (N, 3, H, W) tensor or N tensors of shape (3, H, W), any dtype.

        Returns:
            Float tensor (N, 3, H, W) on ``self.device``.
        """
        if not isinstance(images, torch.Tensor):
            images = torch.stack(list(images))
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'expected images of shape (N, 3, H, W), got {tuple(images.shape)}')
        images = images.to(self.device, non_blocking=self._non_blocking)
        if self.to_rgb:
            images = images.flip(1)
        return (images.float() - self.mean) / self.std

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a collated batch.

        Args:
            data: ``dict(inputs=..., data_samples=...)``; ``inputs`` is one view (a tensor or
                a list of per-sample tensors) or a list of views for multi-view training.
            training: Unused; the same preprocessing applies in training and evaluation.

        Returns:
            ``dict(inputs=..., data_samples=...)`` with a normalised tensor, or a list of them
            (one per view), on the model's device.
        """
        inputs = data['inputs']
        if _is_multi_view(inputs):
            normalised: Union[torch.Tensor, List[torch.Tensor]] = [
                self._normalise(view) for view in inputs]
        else:
            normalised = self._normalise(inputs)
        return dict(inputs=normalised, data_samples=self.cast_data(data.get('data_samples')))


def _is_multi_view(inputs: object) -> bool:
    """Whether ``inputs`` is a list of views rather than one batch of images.

    Args:
        inputs: The collated ``inputs`` of a batch.

    Returns:
        True for a list of (N, 3, H, W) tensors or a list of lists of (3, H, W) tensors.
    """
    if isinstance(inputs, torch.Tensor) or not inputs:
        return False
    first = inputs[0]
    return not isinstance(first, torch.Tensor) or first.dim() == 4
