"""Pack a processed sample into model inputs and a DataSample."""
from typing import Union

import cv2
import numpy as np
import torch

from mmmoco.registry import TRANSFORMS
from mmmoco.structures.data_sample import DataSample
from .base import BaseTransform

META_KEYS = ('img_path', 'sample_idx')


def image_to_tensor(img: np.ndarray, path: str) -> torch.Tensor:
    """Convert an HWC uint8 image to a CHW uint8 tensor (no normalisation).

    Args:
        img: The image array.
        path: The image file, used in the error message.

    Returns:
        The CHW uint8 tensor.
    """
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.dtype != np.uint8:
        described = (f'{img.dtype} array of shape {img.shape}' if isinstance(img, np.ndarray)
                     else type(img).__name__)
        raise TypeError(f'PackInputs: expected an HWC uint8 image for {path}, got {described}')
    planes = np.empty((img.shape[2],) + img.shape[:2], np.uint8)
    # OpenCV writes the planes into ``planes`` many times faster than a strided copy of the
    # transpose (or than allocating one array per plane)
    cv2.split(img, list(planes))
    return torch.from_numpy(planes)


@TRANSFORMS.register_module()
class PackInputs(BaseTransform):
    """Pack ``img`` (one image or a list of views) into ``dict(inputs, data_samples)``.

    ``inputs`` is a CHW uint8 tensor, or a list of them for a list of views;
    ``data_samples`` is a :class:`DataSample` with ``img_path`` and ``sample_idx`` meta
    information (where present) and the ``gt_label`` when the label is non-negative.
    """

    def transform(self, results: dict) -> dict:
        """Pack the sample.

        Args:
            results: A sample with ``img`` and optionally ``gt_label``, ``img_path``,
                ``sample_idx``.

        Returns:
            ``dict(inputs=..., data_samples=DataSample)``.
        """
        path = results.get('img_path', '<no path>')
        img = results['img']
        inputs: Union[torch.Tensor, list] = (
            [image_to_tensor(view, path) for view in img] if isinstance(img, list)
            else image_to_tensor(img, path))
        data_sample = DataSample(metainfo={key: results[key] for key in META_KEYS
                                           if key in results})
        data_sample.set_gt_label(results.get('gt_label', -1))
        return dict(inputs=inputs, data_samples=data_sample)
