"""Colour, blur and solarize operations on RGB images as torch tensors: the one implementation
behind the per-image transforms of the data loader and the batched ones on the device.

An image is a (3, H, W) tensor, a batch a (N, 3, H, W) one, uint8 or float holding integer grey
levels in [0, 255]. Every operation returns the input's dtype, rounded (half to even) and
clamped to [0, 255] as a uint8 result would be, so a chain of colour operations in float equals
the same chain in uint8 (the blur, filtered by OpenCV for uint8 images on the CPU, may differ by
one grey level). A parameter is a number (the same for every image) or a (N,) tensor (one per
image of a batch). The formulas follow torchvision's blending semantics with ITU-R 601 luma.

The ``hwc_*`` functions compute the same colour formulas on one RGB uint8 image held as an HWC
NumPy array, through lookup tables and OpenCV, several times faster than the tensor operations:
the per-image transforms of the data loader use them. Brightness and contrast equal the tensor
operations exactly (brightness by OpenCV's float32 scaling, contrast through a lookup table of
:func:`blend`'s arithmetic, given the grey levels); grey
levels, saturation and hue are computed in another order of (or fixed-point) arithmetic and may
differ by one grey level where the exact result is within rounding error of a tie (on the 20
real ImageNet photos at 224 px: 3e-4 of the grey levels, 6e-5 of the contrast and saturation
outputs, 1.3e-5 of the hue outputs).
"""
import math
from typing import List, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

Param = Union[float, torch.Tensor]

# ITU-R 601 luma, as OpenCV's RGB2GRAY and PIL's convert('L')
LUMA = (0.299, 0.587, 0.114)
# every grey level, the input of the lookup tables
_GREY_LEVELS_NP = np.arange(256, dtype=np.float32)


def per_image(values: torch.Tensor) -> torch.Tensor:
    """View per-image values (N,) as (N, 1, 1, 1), to broadcast over a batch.

    Args:
        values: One value (or mask entry) per image.

    Returns:
        The values, broadcastable against (N, C, H, W).
    """
    return values.reshape(values.shape + (1, 1, 1))


def _per_plane(param: Param) -> Param:
    """A parameter broadcastable against (N, H, W) planes: (N,) -> (N, 1, 1)."""
    return param.reshape(param.shape + (1, 1)) if isinstance(param, torch.Tensor) else param


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself if it is a contiguous float tensor, else a contiguous (float32) copy: the
    planes of a contiguous image are contiguous, and the ops on them several times faster."""
    return x.to(x.dtype if x.is_floating_point() else torch.float32,
                memory_format=torch.contiguous_format)


def _quantise(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Round a fresh float result in place to grey levels in [0, 255], then cast to ``dtype``."""
    x = x.round_().clamp_(0, 255)
    return x if x.dtype == dtype else x.to(dtype)


def gray(x: torch.Tensor) -> torch.Tensor:
    """Rounded ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).

    Returns:
        The luma, (1, H, W) or (N, 1, H, W), in ``x``'s dtype.
    """
    red, green, blue = _as_float(x).unbind(-3)
    luma = red.mul(LUMA[0]).add_(green, alpha=LUMA[1]).add_(blue, alpha=LUMA[2])
    return _quantise(luma, x.dtype).unsqueeze(-3)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """The luma of :func:`gray` in all three channels.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).

    Returns:
        A read-only expanded view of ``x``'s shape and dtype.
    """
    return gray(x).expand_as(x)


def mean_level(grey: torch.Tensor) -> torch.Tensor:
    """The mean grey level of each image, the reference of the contrast adjustment.

    Args:
        grey: Luma from :func:`gray`, (1, H, W) or (N, 1, H, W).

    Returns:
        Float means, (1, 1, 1) or (N, 1, 1, 1).
    """
    return _as_float(grey).mean(dim=(-3, -2, -1), keepdim=True)


def blend(x: torch.Tensor, reference: Union[float, torch.Tensor],
          factor: Param) -> torch.Tensor:
    """``factor * x + (1 - factor) * reference``, rounded and clamped.

    Brightness blends with 0, contrast with the :func:`mean_level`, saturation with the
    :func:`gray` image. A factor of 1 returns ``x`` exactly.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        reference: Anything broadcastable against ``x``.
        factor: The blend factor, a number or one per image (N,).

    Returns:
        The blended image(s), in ``x``'s dtype.
    """
    if isinstance(factor, torch.Tensor):
        factor = per_image(factor)
    out = _as_float(x) * factor
    out += (1 - factor) * reference
    return _quantise(out, x.dtype)


def adjust_brightness(x: torch.Tensor, factor: Param) -> torch.Tensor:
    """Scale all grey levels: ``factor * x``.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        factor: The brightness factor (1 keeps the image), a number or one per image (N,).

    Returns:
        The adjusted image(s), in ``x``'s dtype.
    """
    return blend(x, 0., factor)


def adjust_contrast(x: torch.Tensor, factor: Param) -> torch.Tensor:
    """Blend with the image's mean grey level.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        factor: The contrast factor (1 keeps the image, 0 gives a flat grey image), a number or
            one per image (N,).

    Returns:
        The adjusted image(s), in ``x``'s dtype.
    """
    return blend(x, mean_level(gray(x)), factor)


def adjust_saturation(x: torch.Tensor, factor: Param) -> torch.Tensor:
    """Blend with the image's grayscale.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        factor: The saturation factor (1 keeps the image, 0 gives its grayscale), a number or
            one per image (N,).

    Returns:
        The adjusted image(s), in ``x``'s dtype.
    """
    return blend(x, gray(x), factor)


def adjust_hue(x: torch.Tensor, shift: Param) -> torch.Tensor:
    """Rotate the HSV hue by ``shift`` turns, keeping saturation and value.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        shift: The hue shift in turns, e.g. in [-0.5, 0.5] (0.5 maps red to cyan), a number or
            one per image (N,).

    Returns:
        The adjusted image(s), in ``x``'s dtype.
    """
    x_float = _as_float(x)
    red, green, blue = x_float.unbind(-3)
    # elementwise max/min of the three planes: much faster than a reduction over channels
    value = torch.maximum(torch.maximum(red, green), blue)
    lowest = torch.minimum(torch.minimum(red, green), blue)
    chroma = value - lowest
    safe = chroma.clamp(min=1e-6)  # where chroma is 0 the hue is irrelevant: every ratio is 0
    # the hue sector of the largest channel, in sixths of a turn (red first on ties, then green)
    hue6 = (red - green).div_(safe).add_(4)
    hue6 = torch.where(green == value, (blue - red).div_(safe).add_(2), hue6)
    hue6 = torch.where(red == value, (green - blue).div_(safe), hue6)
    hue6 += 6 * _per_plane(shift)
    hue6 -= hue6.div(6).floor_().mul_(6)  # into [0, 6); torch.remainder is much slower
    # HSV -> RGB: channel = lowest + chroma * weight, the weight of red clamp(|h - 3| - 1, 0, 1),
    # of green clamp(2 - |h - 2|, 0, 1), of blue clamp(2 - |h - 4|, 0, 1) for h in [0, 6)
    out = torch.empty_like(x_float)  # in-place ops throughout: several times faster on CPU
    out_red, out_green, out_blue = out.unbind(-3)
    torch.addcmul(lowest, chroma, (hue6 - 3).abs_().sub_(1).clamp_(0, 1), out=out_red)
    for channel, centre in ((out_green, 2), (out_blue, 4)):
        torch.addcmul(lowest, chroma, (2 - (hue6 - centre).abs_()).clamp_(0, 1), out=channel)
    return _quantise(out, x.dtype)


def max_radius(sigma_high: float, kernel_size: Optional[int] = None) -> int:
    """The radius of the widest kernel :func:`gaussian_kernels` can need.

    Args:
        sigma_high: The largest sigma that can be drawn.
        kernel_size: A fixed odd kernel size, or None.

    Returns:
        The radius in pixels.
    """
    return kernel_size // 2 if kernel_size else math.ceil(3 * sigma_high)


def gaussian_kernels(sigma: torch.Tensor, radius: int,
                     kernel_size: Optional[int] = None) -> torch.Tensor:
    """One normalised 1D Gaussian ``exp(-t^2 / (2 sigma^2))`` per image, zero-padded to a common
    radius.

    Each kernel spans ``ceil(3 sigma)`` pixels either side (``2 * ceil(3 sigma) + 1`` taps) or
    ``kernel_size // 2`` when a size is fixed.

    Args:
        sigma: Standard deviations (N,), in pixels, one per image.
        radius: The common radius (the largest any image needs, see :func:`max_radius`).
        kernel_size: A fixed odd kernel size, or None.

    Returns:
        Kernels (N, 2 * radius + 1) in ``sigma``'s dtype, each summing to 1.
    """
    taps = torch.arange(-radius, radius + 1, device=sigma.device, dtype=sigma.dtype)
    sigma = sigma.unsqueeze(1)
    own_radius = (torch.full_like(sigma, kernel_size // 2) if kernel_size
                  else torch.ceil(3 * sigma))
    weights = torch.exp(-taps ** 2 / (2 * sigma ** 2)) * (taps.abs() <= own_radius)
    return weights / weights.sum(dim=1, keepdim=True)


def _blur_uint8_cpu(images: torch.Tensor, sigma: List[float],
                    kernel_size: Optional[int]) -> List[torch.Tensor]:
    """The CPU uint8 path of :func:`gaussian_blur`: per image, OpenCV's Gaussian kernel (the
    formula of :func:`gaussian_kernels`, without a dozen small tensor ops) and separable filter.

    Args:
        images: uint8 images (N, 3, H, W) on the CPU.
        sigma: Their standard deviations.
        kernel_size: A fixed odd kernel size, or None.

    Returns:
        The blurred (3, H, W) images, each viewing an HWC array.
    """
    return [torch.from_numpy(hwc_gaussian_blur(img.permute(1, 2, 0).numpy(), std,
                                               kernel_size)).permute(2, 0, 1)
            for img, std in zip(images, sigma)]


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, sigma_high: float,
                  kernel_size: Optional[int] = None) -> torch.Tensor:
    """Blur each image with a Gaussian of its own sigma (:func:`gaussian_kernels`), reflecting at
    the borders (OpenCV's default ``BORDER_REFLECT_101``).

    On the CPU, uint8 images are filtered by OpenCV (many times faster there than
    convolutions); otherwise the batch's channels become the groups of two depthwise
    convolutions (rows, then columns), so every image is filtered with its own kernel in one
    call per direction.

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        sigma: Standard deviations (N,), in pixels, one per image (N = 1 for one image).
        sigma_high: The largest sigma any image may have: it sets the convolutions' common
            kernel radius (see :func:`max_radius`) without reading ``sigma`` back from the
            device.
        kernel_size: A fixed odd kernel size, or None for ``2 * ceil(3 sigma) + 1``.

    Returns:
        The blurred image(s), in ``x``'s dtype.

    Raises:
        ValueError: If ``sigma`` has not one value per image, or (convolution path) if the
            kernel radius is not smaller than the images' sides.
    """
    images = x if x.dim() == 4 else x.unsqueeze(0)
    count, channels, height, width = images.shape
    if sigma.shape != (count,):
        raise ValueError(f'gaussian_blur: sigma must have shape ({count},), one value per '
                         f'image, got {tuple(sigma.shape)}')
    if x.dtype == torch.uint8 and x.device.type == 'cpu':
        blurred = _blur_uint8_cpu(images, sigma.tolist(), kernel_size)
        return torch.stack(blurred) if x.dim() == 4 else blurred[0]
    radius = max_radius(sigma_high, kernel_size)
    if radius >= min(height, width):
        raise ValueError(f'gaussian_blur: kernel radius {radius} needs images larger than '
                         f'{radius} pixels, got {height}x{width}; lower sigma or kernel_size')
    groups = count * channels
    x_float = _as_float(images)
    weight = gaussian_kernels(sigma.to(x_float.dtype), radius, kernel_size)
    weight = weight.repeat_interleave(channels, dim=0)  # one kernel per channel
    out = F.pad(x_float.reshape(1, groups, height, width), (0, 0, radius, radius),
                mode='reflect')
    out = F.conv2d(out, weight.view(groups, 1, -1, 1), groups=groups)
    out = F.pad(out, (radius, radius, 0, 0), mode='reflect')
    out = F.conv2d(out, weight.view(groups, 1, 1, -1), groups=groups)
    return _quantise(out.view(x.shape), x.dtype)


def solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert the grey levels at or above ``threshold``: ``255 - x`` there (PIL's
    ``ImageOps.solarize``).

    Args:
        x: An image (3, H, W) or a batch (N, 3, H, W).
        threshold: The first inverted grey level (256 inverts nothing).

    Returns:
        The solarized image(s), in ``x``'s dtype.
    """
    # compared as a float: an int 256 against a uint8 tensor would wrap to 0 and invert all
    return torch.where(x >= float(threshold), 255 - x, x)


def hwc_gray(img: np.ndarray) -> np.ndarray:
    """The ITU-R 601 luma of :func:`gray` by OpenCV (fixed point; equal up to rounding ties).

    Args:
        img: An RGB uint8 image (H, W, 3).

    Returns:
        The luma, uint8 (H, W).
    """
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def hwc_grayscale(img: np.ndarray) -> np.ndarray:
    """The luma of :func:`hwc_gray` in all three channels (:func:`grayscale`).

    Args:
        img: An RGB uint8 image (H, W, 3).

    Returns:
        A new uint8 image (H, W, 3).
    """
    return cv2.cvtColor(hwc_gray(img), cv2.COLOR_GRAY2RGB)


def _blend_table(level: float, factor: float) -> np.ndarray:
    """:func:`blend` of the 256 grey levels with one reference level, as a uint8 lookup table.

    NumPy's float32 scalar arithmetic in :func:`blend`'s order (``x * factor``, then ``+
    (1 - factor) * level``, each rounded to float32; round half to even; clamp), so the
    table equals :func:`blend`'s result on every level (tested exhaustively over random
    factors and levels) at a third of the cost of the tensor operations on 256 values.

    Args:
        level: The reference grey level (a float32 value, e.g. from :func:`mean_level`).
        factor: The blend factor.

    Returns:
        The (256,) uint8 table.
    """
    out = _GREY_LEVELS_NP * np.float32(factor)
    out += np.float32(np.float32(1 - factor) * np.float32(level))
    np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def _hwc_mean_level(grey: np.ndarray) -> np.float32:
    """:func:`mean_level` of a uint8 luma plane: the float32 quotient of its exact sum.

    Equal to the tensor version while the sum of the grey levels stays below 2 ** 24, where
    float32 sums integers exactly (images up to 65,793 pixels, e.g. every crop of 256 x 256 or
    less); beyond, this is the exactly rounded mean and the tensor's float32 sum may be off by
    its rounding.
    """
    return np.float32(cv2.sumElems(grey)[0]) / np.float32(grey.size)


def hwc_adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """:func:`adjust_brightness` of one image (exactly).

    OpenCV's ``convertScaleAbs`` computes ``x * factor`` in float32 and rounds half to even
    with saturation: :func:`blend` with 0 (tested on every grey level over random factors),
    in one pass without a lookup table.

    Args:
        img: An RGB uint8 image (H, W, 3).
        factor: The brightness factor, >= 0 (1 keeps the image).

    Returns:
        A new uint8 image (H, W, 3).

    Raises:
        ValueError: If ``factor`` is negative (OpenCV would take the absolute value).
    """
    if factor < 0:
        raise ValueError(f'hwc_adjust_brightness: factor must be >= 0, got {factor!r}')
    return cv2.convertScaleAbs(img, alpha=float(factor))


def hwc_adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """:func:`adjust_contrast` of one image (exactly, given the grey levels of
    :func:`hwc_gray`), as a lookup table of :func:`blend` with the mean grey level.

    Args:
        img: An RGB uint8 image (H, W, 3).
        factor: The contrast factor (1 keeps the image, 0 gives a flat grey image).

    Returns:
        A new uint8 image (H, W, 3).
    """
    return cv2.LUT(img, _blend_table(_hwc_mean_level(hwc_gray(img)), factor))


def hwc_adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """:func:`adjust_saturation` of one image: OpenCV's weighted sum with its grayscale.

    Args:
        img: An RGB uint8 image (H, W, 3).
        factor: The saturation factor (1 keeps the image, 0 gives its grayscale).

    Returns:
        A new uint8 image (H, W, 3).
    """
    return cv2.addWeighted(img, factor, hwc_grayscale(img), 1 - factor, 0)


def hwc_solarize(img: np.ndarray, threshold: float) -> np.ndarray:
    """:func:`solarize` of one image (exactly, as a lookup table).

    Args:
        img: A uint8 image (H, W, C).
        threshold: The first inverted grey level (256 inverts nothing).

    Returns:
        A new uint8 image (H, W, C).
    """
    levels = _GREY_LEVELS_NP.astype(np.uint8)
    return cv2.LUT(img, np.where(levels >= threshold, 255 - levels, levels))


def hwc_gaussian_blur(img: np.ndarray, sigma: float,
                      kernel_size: Optional[int] = None) -> np.ndarray:
    """:func:`gaussian_blur` of one image: OpenCV's Gaussian kernel (the formula of
    :func:`gaussian_kernels`) and separable filter.

    Args:
        img: A uint8 image (H, W, C).
        sigma: The standard deviation, in pixels.
        kernel_size: A fixed odd kernel size, or None for ``2 * ceil(3 sigma) + 1``.

    Returns:
        A new uint8 image (H, W, C).
    """
    kernel = cv2.getGaussianKernel(2 * max_radius(sigma, kernel_size) + 1, sigma)
    return cv2.sepFilter2D(np.ascontiguousarray(img), -1, kernel, kernel,
                           borderType=cv2.BORDER_REFLECT_101)


def hwc_adjust_hue(img: np.ndarray, shift: float) -> np.ndarray:
    """:func:`adjust_hue` of one image: OpenCV's float32 HSV conversions (the hue in degrees).

    OpenCV's HSV to RGB conversion wraps hues in [0, 720) but not negative ones, so the shift
    is added as ``shift mod 1`` turns, in [0, 1).

    Args:
        img: An RGB uint8 image (H, W, 3).
        shift: The hue shift in turns, e.g. in [-0.5, 0.5].

    Returns:
        A new uint8 image (H, W, 3).
    """
    hsv = img.astype(np.float32)
    cv2.cvtColor(hsv, cv2.COLOR_RGB2HSV, dst=hsv)  # in place: one float buffer throughout
    cv2.add(hsv, (360. * (shift % 1.), 0., 0., 0.), dst=hsv)
    cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB, dst=hsv)
    # |x| rounded half to even and saturated: the tensor ops' rounding of values in [0, 255]
    return cv2.convertScaleAbs(hsv)
