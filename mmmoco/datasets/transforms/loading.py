"""Decode an image file into an RGB uint8 array."""
import io

import cv2
import numpy as np
from PIL import Image

from mmmoco.registry import TRANSFORMS
from .base import BaseTransform


class ImageDecodeError(OSError, ValueError):
    """An image file is missing, empty or cannot be decoded; the message names the file."""


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, 'rb') as file:
            data = file.read()
    except OSError as error:
        raise ImageDecodeError(f'cannot read image {path!r}: {error.strerror or error}') from error
    if not data:
        raise ImageDecodeError(f'cannot decode image {path!r}: the file is empty')
    return data


def decode_bgr(data: bytes, path: str) -> np.ndarray:
    """Decode image bytes with OpenCV, falling back to Pillow for formats OpenCV cannot read.

    Args:
        data: The encoded image.
        path: The file the bytes came from, used in the error message.

    Returns:
        A 3-channel BGR uint8 array of shape (H, W, 3); grayscale and alpha inputs are
        converted to three colour channels.
    """
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is not None:
        return img
    try:
        with Image.open(io.BytesIO(data)) as pil_img:
            rgb = np.asarray(pil_img.convert('RGB'))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageDecodeError(f'cannot decode image {path!r}: neither OpenCV nor Pillow can '
                               f'read it ({error})') from error
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` from disk and decode it.

    Sets ``img`` (uint8, HWC, 3 channels), ``img_shape`` and ``ori_shape`` (height, width).

    Args:
        to_rgb: Give RGB channel order (the mmmoco convention); ``False`` keeps OpenCV's BGR.
    """

    def __init__(self, to_rgb: bool = True) -> None:
        self.to_rgb = to_rgb

    def transform(self, results: dict) -> dict:
        """Load the image.

        Args:
            results: A sample with ``img_path``.

        Returns:
            The sample with ``img``, ``img_shape`` and ``ori_shape`` set.

        Raises:
            ImageDecodeError: The file is missing, empty or not a decodable image.
        """
        path = results['img_path']
        img = decode_bgr(_read_bytes(path), path)
        if self.to_rgb:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
