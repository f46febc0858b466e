"""Vectorised colour and blur operations on a batch of float images in the 0-255 range.

Every operation takes a (N, 3, H, W) float tensor holding integer values in [0, 255] (uint8
images cast to float) and per-sample parameters, and returns the result rounded and clamped to
[0, 255], as the per-image uint8 transforms of :mod:`mmmoco.datasets.transforms.color` do, so a
batched op equals the per-image op for the same parameters up to the per-image code's own
rounding (at most one grey level). No loop runs over the samples.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F

# ITU-R 601 luma, as OpenCV's RGB2GRAY
_LUMA = (0.299, 0.587, 0.114)


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """Round to integer grey levels and clamp to [0, 255], as a uint8 result would be."""
    return x.round_().clamp_(0, 255)


def per_sample(values: torch.Tensor) -> torch.Tensor:
    """View a (N,) parameter tensor as (N, 1, 1, 1) to broadcast over images.

    Args:
        values: One value per sample.

    Returns:
        The values, broadcastable against (N, C, H, W).
    """
    return values.view(-1, 1, 1, 1)


def gray(x: torch.Tensor) -> torch.Tensor:
    """Rounded ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``.

    Args:
        x: Images (N, 3, H, W).

    Returns:
        Luma (N, 1, H, W), rounded to integer grey levels.
    """
    red, green, blue = x.unbind(1)
    return (_LUMA[0] * red + _LUMA[1] * green + _LUMA[2] * blue).round_().unsqueeze(1)


def blend(x: torch.Tensor, reference: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * x + (1 - factor) * reference``, rounded and clamped.

    Brightness blends with 0, contrast with the mean grey level, saturation with the grey
    image. A factor of 1 returns ``x`` exactly.

    Args:
        x: Images (N, 3, H, W).
        reference: Anything broadcastable against ``x``.
        factor: Per-sample factors (N,).

    Returns:
        The blended images.
    """
    factor = per_sample(factor)
    return _quantise(factor * x + (1 - factor) * reference)


def shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each image by ``shift`` turns (saturation and value kept).

    Args:
        x: Images (N, 3, H, W).
        shift: Per-sample hue shifts (N,) in turns, e.g. in [-0.5, 0.5].

    Returns:
        The adjusted images.
    """
    red, green, blue = (x / 255).unbind(1)
    # elementwise max/min of the three planes: much faster than a reduction over dim 1
    value = torch.maximum(torch.maximum(red, green), blue)
    chroma = value - torch.minimum(torch.minimum(red, green), blue)
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    # the hue sector of the largest channel (red first on ties, then green)
    sector = torch.where(red == value, (green - blue) / safe,
                         torch.where(green == value, 2 + (blue - red) / safe,
                                     4 + (red - green) / safe))
    hue6 = torch.remainder(sector + 6 * shift.view(-1, 1, 1), 6)  # hue in sixths of a turn
    channels = []
    for offset in (5, 3, 1):  # R, G, B of the HSV -> RGB conversion
        k = torch.remainder(hue6 + offset, 6)
        channels.append(value - chroma * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return _quantise(torch.stack(channels, dim=1) * 255)


def gaussian_kernels(sigma: torch.Tensor, radius: int,
                     kernel_size: Optional[int] = None) -> torch.Tensor:
    """One normalised 1D Gaussian per sample, zero-padded to a common radius.

    Each kernel spans ``ceil(3 sigma)`` pixels either side (OpenCV's ``2 * ceil(3 sigma) + 1``
    taps, as the per-image ``GaussianBlur``) or ``kernel_size // 2`` when a size is fixed.

    Args:
        sigma: Per-sample standard deviations (N,), in pixels.
        radius: The common radius (the largest any sample needs).
        kernel_size: A fixed odd kernel size, or None.

    Returns:
        Kernels (N, 2 * radius + 1), each summing to 1.
    """
    taps = torch.arange(-radius, radius + 1, device=sigma.device, dtype=sigma.dtype)
    sigma = sigma.unsqueeze(1)
    own_radius = (torch.full_like(sigma, kernel_size // 2) if kernel_size
                  else torch.ceil(3 * sigma))
    weights = torch.exp(-taps ** 2 / (2 * sigma ** 2)) * (taps.abs() <= own_radius)
    return weights / weights.sum(dim=1, keepdim=True)


def max_radius(sigma_high: float, kernel_size: Optional[int] = None) -> int:
    """The radius of the widest kernel :func:`gaussian_kernels` can need.

    Args:
        sigma_high: The largest sigma that can be drawn.
        kernel_size: A fixed odd kernel size, or None.

    Returns:
        The radius in pixels.
    """
    return kernel_size // 2 if kernel_size else math.ceil(3 * sigma_high)


def gaussian_blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Separable blur of each image with its own kernel, reflecting at the borders
    (OpenCV's default ``BORDER_REFLECT_101``).

    The batch's channels become the groups of two depthwise convolutions (rows, then
    columns), so every sample is filtered with its own kernel in one call per direction.

    Args:
        x: Images (N, 3, H, W).
        kernels: Per-sample 1D kernels (N, 2r + 1) from :func:`gaussian_kernels`.

    Returns:
        The blurred images.

    Raises:
        ValueError: If the kernel radius is not smaller than the image's sides.
    """
    count, channels, height, width = x.shape
    radius = kernels.shape[1] // 2
    if radius >= min(height, width):
        raise ValueError(f'BatchGaussianBlur: kernel radius {radius} needs images larger than '
                         f'{radius} pixels, got {height}x{width}; lower sigma or kernel_size')
    groups = count * channels
    weight = kernels.to(x.dtype).repeat_interleave(channels, dim=0)  # one kernel per channel
    out = F.pad(x.reshape(1, groups, height, width), (0, 0, radius, radius), mode='reflect')
    out = F.conv2d(out, weight.view(groups, 1, -1, 1), groups=groups)
    out = F.pad(out, (radius, radius, 0, 0), mode='reflect')
    out = F.conv2d(out, weight.view(groups, 1, 1, -1), groups=groups)
    return _quantise(out.view_as(x))


def solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert the grey levels at or above ``threshold``: ``255 - x`` there.

    Args:
        x: Images (N, 3, H, W).
        threshold: The first inverted grey level (256 inverts nothing).

    Returns:
        The solarized images.
    """
    return torch.where(x >= threshold, 255 - x, x)
