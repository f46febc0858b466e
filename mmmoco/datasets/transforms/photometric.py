"""Photometric transforms: colour jitter, random grayscale, Gaussian blur and solarization.

They draw their parameters on ``np.random`` and apply the formulas of
:mod:`mmmoco.utils.image_ops` (shared with the batched ones of :mod:`mmmoco.models.augment`)
through its ``hwc_*`` lookup-table and OpenCV versions, on the HWC uint8 array itself (every
colour adjustment rounds to uint8, so ``ColorJitter``'s chain is the tensor operations' chain).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from mmmoco.registry import TRANSFORMS
from mmmoco.utils import image_ops
from mmmoco.utils.checks import check_non_negative, check_positive_range, check_prob
from .base import BaseTransform


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Randomly change brightness, contrast, saturation and hue (torchvision semantics).

    With probability ``prob``, the four adjustments are applied in a random order with
    factors drawn uniformly from ``[max(0, 1 - v), 1 + v]`` (hue: a shift in
    ``[-hue, hue]``); an argument of 0 disables its adjustment. Draw order on ``np.random``:
    ``rand()`` for ``prob``, then ``permutation(4)``, then one ``uniform`` per enabled
    adjustment in the order brightness, contrast, saturation, hue.

    Args:
        brightness: Brightness jitter strength (>= 0).
        contrast: Contrast jitter strength (>= 0).
        saturation: Saturation jitter strength (>= 0).
        hue: Hue jitter strength, in [0, 0.5].
        prob: Probability of jittering at all.
    """

    def __init__(self, brightness: float = 0., contrast: float = 0., saturation: float = 0.,
                 hue: float = 0., prob: float = 1.0) -> None:
        self.brightness = check_non_negative(brightness, 'ColorJitter: brightness')
        self.contrast = check_non_negative(contrast, 'ColorJitter: contrast')
        self.saturation = check_non_negative(saturation, 'ColorJitter: saturation')
        self.hue = check_non_negative(hue, 'ColorJitter: hue')
        if self.hue > 0.5:
            raise ValueError(f'ColorJitter: hue must be in [0, 0.5], got {hue!r}')
        self.prob = check_prob(prob, 'ColorJitter: prob')

    def sample_adjustments(self) -> List[Optional[Tuple[Callable, float]]]:
        """Draw the factors of the enabled adjustments.

        Returns:
            For brightness, contrast, saturation and hue in that order, the adjustment
            function of an HWC uint8 image with its factor, or ``None`` where disabled.
        """
        scaled = ((image_ops.hwc_adjust_brightness, self.brightness),
                  (image_ops.hwc_adjust_contrast, self.contrast),
                  (image_ops.hwc_adjust_saturation, self.saturation))
        adjustments = [(fn, np.random.uniform(max(0., 1 - value), 1 + value)) if value > 0
                       else None for fn, value in scaled]
        adjustments.append((image_ops.hwc_adjust_hue, np.random.uniform(-self.hue, self.hue))
                           if self.hue > 0 else None)
        return adjustments

    def transform(self, results: dict) -> dict:
        """Maybe jitter ``results['img']``.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample, jittered with probability ``prob``.
        """
        if np.random.rand() >= self.prob:
            return results
        order = np.random.permutation(4)
        adjustments = self.sample_adjustments()
        img = results['img']
        for index in order:
            if adjustments[index] is not None:
                adjust, factor = adjustments[index]
                img = adjust(img, factor)
        results['img'] = img
        return results


@TRANSFORMS.register_module()
class RandomGrayscale(BaseTransform):
    """Convert to 3-channel grayscale (ITU-R 601 luma) with probability ``prob``.

    Args:
        prob: The conversion probability.
    """

    def __init__(self, prob: float = 0.2) -> None:
        self.prob = check_prob(prob, 'RandomGrayscale: prob')

    def transform(self, results: dict) -> dict:
        """Maybe convert ``results['img']`` to grayscale.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample, grayscale with probability ``prob``.
        """
        if np.random.rand() < self.prob:
            results['img'] = image_ops.hwc_grayscale(results['img'])
        return results


@TRANSFORMS.register_module()
class GaussianBlur(BaseTransform):
    """Blur with a Gaussian of random sigma with probability ``prob``.

    Args:
        sigma: Range (low, high) of the uniformly drawn standard deviation, in pixels.
        prob: The blur probability.
        kernel_size: An odd kernel size; ``None`` derives ``2 * ceil(3 * sigma) + 1``.
    """

    def __init__(self, sigma: Sequence[float] = (0.1, 2.0), prob: float = 0.5,
                 kernel_size: Optional[int] = None) -> None:
        self.sigma = check_positive_range(sigma, 'GaussianBlur: sigma')
        self.prob = check_prob(prob, 'GaussianBlur: prob')
        if kernel_size is not None and (not isinstance(kernel_size, int) or kernel_size < 1
                                        or kernel_size % 2 == 0):
            raise ValueError(f'GaussianBlur: kernel_size must be None or a positive odd int, '
                             f'got {kernel_size!r}')
        self.kernel_size = kernel_size

    def transform(self, results: dict) -> dict:
        """Maybe blur ``results['img']``.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample, blurred with probability ``prob``.
        """
        if np.random.rand() >= self.prob:
            return results
        results['img'] = image_ops.hwc_gaussian_blur(
            results['img'], np.random.uniform(*self.sigma), self.kernel_size)
        return results


@TRANSFORMS.register_module()
class Solarize(BaseTransform):
    """Invert every pixel value at or above ``threshold`` with probability ``prob``.

    A value ``v >= threshold`` becomes ``255 - v``, others are kept (PIL's
    ``ImageOps.solarize``, as in BYOL and MoCo v3, whose threshold is 128). One ``rand()`` is
    drawn on ``np.random`` per call.

    Args:
        threshold: The first inverted value, an int in [0, 256] (256 inverts nothing).
        prob: The solarization probability.

    Raises:
        ValueError: If ``threshold`` or ``prob`` is out of range.
    """

    def __init__(self, threshold: int = 128, prob: float = 0.2) -> None:
        if (not isinstance(threshold, int) or isinstance(threshold, bool)
                or not 0 <= threshold <= 256):
            raise ValueError(f'Solarize: threshold must be an int in [0, 256], got {threshold!r}')
        self.threshold = threshold
        self.prob = check_prob(prob, 'Solarize: prob')

    def transform(self, results: dict) -> dict:
        """Maybe solarize ``results['img']``.

        Args:
            results: A sample with ``img``, a uint8 image.

        Returns:
            The sample, solarized with probability ``prob`` (still uint8).

        Raises:
            TypeError: If the image is not uint8.
        """
        img = results['img']
        if img.dtype != np.uint8:
            raise TypeError(f'Solarize: expected a uint8 image, got {img.dtype}')
        if np.random.rand() < self.prob:
            results['img'] = image_ops.hwc_solarize(img, self.threshold)
        return results
