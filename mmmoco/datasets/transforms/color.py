"""Colour adjustments of RGB uint8 images with torchvision's blending semantics."""
import cv2
import numpy as np


def _apply_lut(img: np.ndarray, values: np.ndarray) -> np.ndarray:
    lut = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def to_gray_rgb(img: np.ndarray) -> np.ndarray:
    """Convert to grayscale (ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B) with 3 equal channels.

    Args:
        img: An RGB uint8 HWC image.

    Returns:
        The grayscale image, uint8 HWC with three channels.
    """
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """Scale all pixel values: ``clip(round(img * factor))``.

    Args:
        img: An RGB uint8 HWC image.
        factor: The brightness factor (1 keeps the image).

    Returns:
        The adjusted uint8 image.
    """
    return _apply_lut(img, np.arange(256) * factor)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the mean grey level: ``clip(round(factor * img + (1 - factor) * mean))``.

    Args:
        img: An RGB uint8 HWC image.
        factor: The contrast factor (1 keeps the image, 0 gives a flat grey image).

    Returns:
        The adjusted uint8 image.
    """
    mean = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean()
    return _apply_lut(img, np.arange(256) * factor + (1 - factor) * mean)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the grayscale image: ``clip(round(factor * img + (1 - factor) * gray))``.

    Args:
        img: An RGB uint8 HWC image.
        factor: The saturation factor (1 keeps the image, 0 gives its grayscale).

    Returns:
        The adjusted uint8 image.
    """
    return cv2.addWeighted(img, factor, to_gray_rgb(img), 1 - factor, 0)


def adjust_hue(img: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the hue channel in HSV space by ``shift`` turns.

    Args:
        img: An RGB uint8 HWC image.
        shift: The hue shift in [-0.5, 0.5] (0.5 maps red to cyan).

    Returns:
        The adjusted uint8 image.
    """
    hsv = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + shift * 360) % 360
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
