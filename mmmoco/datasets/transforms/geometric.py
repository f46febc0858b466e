"""Geometric transforms: random resized crop, resize, center crop and flip."""
import math
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mmmoco.registry import TRANSFORMS
from .base import BaseTransform
from mmmoco.utils.checks import check_positive_range, check_prob, check_size

_INTERPOLATIONS = ('bicubic', 'bilinear', 'nearest')


def _check_interpolation(owner: str, interpolation: str) -> str:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f'{owner}: interpolation must be one of {list(_INTERPOLATIONS)}, '
                         f'got {interpolation!r}')
    return interpolation


def _resize(img: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    """Resize an HWC image, or a cropped view of one.

    'nearest' is OpenCV's. 'bilinear' and 'bicubic' are torch's antialiased resampling, PIL's
    filters (those of torchvision's classic transforms): shrinking widens the kernel over the
    whole footprint of an output pixel instead of aliasing, and on uint8 images torch's
    vectorised integer kernels give PIL's grey levels up to rounding, several times faster
    than OpenCV's area averaging.

    Args:
        img: An (H, W, C) array.
        height: The output height.
        width: The output width.
        interpolation: 'nearest', 'bilinear' or 'bicubic'.

    Returns:
        A new contiguous (height, width, C) array of ``img``'s dtype.
    """
    if img.shape[:2] == (height, width):
        return np.ascontiguousarray(img)
    if interpolation == 'nearest':
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_NEAREST)
    # torch's vectorised uint8 kernel wants contiguous HWC memory (a crop is a strided view:
    # copying it is faster than the strided path; MultiView's shared decoded image is
    # read-only, which torch.from_numpy warns about, so an uncropped one is copied too), and a
    # batch of one whose batch stride is the whole image (not 1 x C x H x W with ambiguous
    # strides) makes torch return HWC memory too (pytorch issue 68430): no repacking
    hwc = np.ascontiguousarray(img)
    if not hwc.flags.writeable:
        hwc = hwc.copy()
    out = F.interpolate(torch.from_numpy(hwc).unsqueeze(0).permute(0, 3, 1, 2),
                        size=(height, width), mode=interpolation, antialias=True,
                        align_corners=False)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())  # already contiguous: a view


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random area and aspect ratio, then resize to ``size`` (torchvision semantics).

    Up to 10 attempts sample an area fraction uniformly in ``scale`` and an aspect ratio
    log-uniformly in ``ratio``; if none fits, the central crop with the ratio clamped to
    ``ratio`` is used.

    Args:
        size: The output size, an int (square) or (height, width).
        scale: Range of the crop area as a fraction of the image area.
        ratio: Range of the crop aspect ratio (width / height).
        interpolation: 'nearest', 'bilinear' or 'bicubic'.
    """

    def __init__(self, size: Union[int, Sequence[int]],
                 scale: Sequence[float] = (0.2, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3),
                 interpolation: str = 'bilinear') -> None:
        self.size = check_size(size, 'RandomResizedCrop: size')
        self.scale = check_positive_range(scale, 'RandomResizedCrop: scale')
        self.ratio = check_positive_range(ratio, 'RandomResizedCrop: ratio')
        self.interpolation = _check_interpolation('RandomResizedCrop', interpolation)

    def crop_box(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """Sample a crop box for an image of the given size.

        Args:
            height: The image height.
            width: The image width.

        Returns:
            (top, left, crop_height, crop_width).
        """
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            crop_w = int(round(math.sqrt(target_area * aspect)))
            crop_h = int(round(math.sqrt(target_area / aspect)))
            if 0 < crop_w <= width and 0 < crop_h <= height:
                top = np.random.randint(0, height - crop_h + 1)
                left = np.random.randint(0, width - crop_w + 1)
                return top, left, crop_h, crop_w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            crop_w, crop_h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            crop_w, crop_h = int(round(height * self.ratio[1])), height
        else:
            crop_w, crop_h = width, height
        return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w

    def transform(self, results: dict) -> dict:
        """Crop and resize ``results['img']``.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample with the cropped ``img`` and its ``img_shape``.
        """
        img = results['img']
        top, left, crop_h, crop_w = self.crop_box(*img.shape[:2])
        crop = img[top:top + crop_h, left:left + crop_w]
        results['img'] = _resize(crop, *self.size, self.interpolation)
        results['img_shape'] = self.size
        return results


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize the shorter side to ``size`` keeping the aspect ratio, or to an exact size.

    Args:
        size: An int (the shorter side's new length; the longer side is truncated like
            torchvision) or (height, width).
        interpolation: 'nearest', 'bilinear' or 'bicubic'.
    """

    def __init__(self, size: Union[int, Sequence[int]], interpolation: str = 'bilinear') -> None:
        check_size(size, 'Resize: size')
        self.size = size if isinstance(size, int) else tuple(size)
        self.interpolation = _check_interpolation('Resize', interpolation)

    def output_size(self, height: int, width: int) -> Tuple[int, int]:
        """Compute the output size for an image of the given size.

        Args:
            height: The image height.
            width: The image width.

        Returns:
            (new_height, new_width).
        """
        if not isinstance(self.size, int):
            return self.size
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def transform(self, results: dict) -> dict:
        """Resize ``results['img']``.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample with the resized ``img`` and its ``img_shape``.
        """
        img = results['img']
        new_h, new_w = self.output_size(*img.shape[:2])
        results['img'] = _resize(img, new_h, new_w, self.interpolation)
        results['img_shape'] = (new_h, new_w)
        return results


@TRANSFORMS.register_module()
class CenterCrop(BaseTransform):
    """Crop the centre of the image.

    Args:
        size: The crop size, an int (square) or (height, width); it must fit in the image.
    """

    def __init__(self, size: Union[int, Sequence[int]]) -> None:
        self.size = check_size(size, 'CenterCrop: size')

    def transform(self, results: dict) -> dict:
        """Crop ``results['img']``.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample with the cropped ``img`` and its ``img_shape``.
        """
        img = results['img']
        height, width = img.shape[:2]
        crop_h, crop_w = self.size
        if crop_h > height or crop_w > width:
            raise ValueError(f'CenterCrop: size {self.size} is larger than the image '
                             f'({height}, {width}) of {results.get("img_path", "<no path>")}')
        top = int(round((height - crop_h) / 2))
        left = int(round((width - crop_w) / 2))
        results['img'] = np.ascontiguousarray(img[top:top + crop_h, left:left + crop_w])
        results['img_shape'] = self.size
        return results


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip the image with probability ``prob``.

    Args:
        prob: The flip probability.
        direction: 'horizontal' (left-right) or 'vertical' (up-down).
    """

    _FLIP_CODES = {'horizontal': 1, 'vertical': 0}

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal') -> None:
        self.prob = check_prob(prob, 'RandomFlip: prob')
        if direction not in self._FLIP_CODES:
            raise ValueError(f"RandomFlip: direction must be 'horizontal' or 'vertical', "
                             f'got {direction!r}')
        self.direction = direction

    def transform(self, results: dict) -> dict:
        """Maybe flip ``results['img']``.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample, flipped with probability ``prob``.
        """
        if np.random.rand() < self.prob:
            results['img'] = cv2.flip(results['img'], self._FLIP_CODES[self.direction])
        return results
