"""Decode an image file into an RGB uint8 array, refusing images with too many pixels."""
import io
import os
import struct
import warnings
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image

from mmmoco.registry import TRANSFORMS
from .base import BaseTransform

#: Pillow's default ``Image.MAX_IMAGE_PIXELS``: about a quarter of a gigabyte of 24-bit pixels.
DEFAULT_MAX_PIXELS = 89_478_485
#: The environment variable that overrides the default pixel limit (0 disables it).
MAX_PIXELS_ENV = 'MMMOCO_MAX_IMAGE_PIXELS'

# OpenCV >= 4.11 only (requirements allow 4.8)
_IMREAD_RGB = getattr(cv2, 'IMREAD_COLOR_RGB', None)
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# start-of-frame markers (baseline, progressive, lossless, arithmetic...): not DHT, JPG, DAC
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field: TEM, RST0-7, SOI
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


class ImageDecodeError(OSError, ValueError):
    """An image file is missing, empty or cannot be decoded; the message names the file."""


def _png_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from a PNG's IHDR chunk, or None if ``data`` is not a PNG."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b'IHDR' or len(data) < 24:
        return None
    return struct.unpack('>II', data[16:24])


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from a JPEG's start-of-frame segment, or None if ``data`` is not a JPEG
    or none is found before the image data."""
    if data[:2] != b'\xff\xd8':
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _JPEG_STANDALONE:
            pos += 2
        elif marker in _JPEG_SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack('>HH', data[pos + 5:pos + 9])
            return (width, height) if height else None  # height 0: set later by a DNL marker
        elif marker in (0xD9, 0xDA):  # end of image, start of scan
            return None
        else:
            pos += 2 + struct.unpack('>H', data[pos + 2:pos + 4])[0]
    return None


def image_size(data: bytes, path: str) -> Optional[Tuple[int, int]]:
    """The size an image will decode to, read from its header only.

    PNG and JPEG headers are parsed here; other formats are opened lazily by Pillow (which
    reads the header, not the pixels, but refuses by itself images of over twice its own
    ``MAX_IMAGE_PIXELS``).

    Args:
        data: The encoded image.
        path: The file the bytes came from, used in the error message.

    Returns:
        (width, height), or None if no header gives it (the decoder then decides).

    Raises:
        ImageDecodeError: If Pillow refuses the image as a decompression bomb.
    """
    size = _png_size(data) or _jpeg_size(data)
    if size is not None:
        return size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(f'refusing to decode image {path!r}: {error}') from error
    except (OSError, ValueError, SyntaxError):
        return None


def resolve_max_pixels(max_pixels: Optional[int]) -> int:
    """The pixel limit to apply: ``max_pixels`` if given, else the environment variable
    ``MMMOCO_MAX_IMAGE_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Args:
        max_pixels: An int >= 0 (0 disables the limit), or None.

    Returns:
        The limit, 0 for none.

    Raises:
        ValueError: If the argument or the environment variable is not an int >= 0.
    """
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV)
        if text is None:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(text)
        except ValueError:
            max_pixels = -1
        name = f'environment variable {MAX_PIXELS_ENV}={text!r}'
    else:
        name = f'LoadImageFromFile: max_pixels={max_pixels!r}'
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 0:
        raise ValueError(f'{name}: must be an int >= 0 (0: no limit)')
    return max_pixels


def check_pixels(data: bytes, path: str, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels, before decoding.

    Args:
        data: The encoded image.
        path: The file the bytes came from, named in the error.
        max_pixels: The limit; 0 checks nothing.

    Raises:
        ImageDecodeError: If the image is larger than the limit.
    """
    if not max_pixels:
        return
    size = image_size(data, path)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageDecodeError(
            f'refusing to decode image {path!r}: {size[0]}x{size[1]} = {size[0] * size[1]} '
            f'pixels is more than the limit of {max_pixels} (LoadImageFromFile(max_pixels=...) '
            f'or the environment variable {MAX_PIXELS_ENV}; 0 disables the limit)')


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, 'rb') as file:
            data = file.read()
    except OSError as error:
        raise ImageDecodeError(f'cannot read image {path!r}: {error.strerror or error}') from error
    if not data:
        raise ImageDecodeError(f'cannot decode image {path!r}: the file is empty')
    return data


def decode_image(data: bytes, path: str, to_rgb: bool = True) -> np.ndarray:
    """Decode image bytes with OpenCV, falling back to Pillow for formats OpenCV cannot read.

    OpenCV 4.11 and later decode straight to RGB (``IMREAD_COLOR_RGB``: libjpeg-turbo writes
    the RGB order itself), saving a channel swap of the whole image; older ones decode to BGR
    and swap.

    Args:
        data: The encoded image.
        path: The file the bytes came from, used in the error message.
        to_rgb: RGB channel order; ``False`` gives OpenCV's BGR.

    Returns:
        A 3-channel uint8 array of shape (H, W, 3); grayscale and alpha inputs are converted to
        three colour channels.
    """
    flag = _IMREAD_RGB if to_rgb and _IMREAD_RGB is not None else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is not None:
        swap = to_rgb and flag == cv2.IMREAD_COLOR
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if swap else img
    try:
        with Image.open(io.BytesIO(data)) as pil_img:
            rgb = np.asarray(pil_img.convert('RGB'))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageDecodeError(f'cannot decode image {path!r}: neither OpenCV nor Pillow can '
                               f'read it ({error})') from error
    return rgb if to_rgb else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` from disk and decode it.

    Sets ``img`` (uint8, HWC, 3 channels), ``img_shape`` and ``ori_shape`` (height, width).
    An image whose header declares more than ``max_pixels`` pixels is refused before it is
    decoded (a few hundred kilobytes of PNG can declare gigabytes of pixels).

    Args:
        to_rgb: Give RGB channel order (the mmmoco convention); ``False`` keeps OpenCV's BGR.
        max_pixels: The largest width x height to decode; 0 for no limit; None for the
            environment variable ``MMMOCO_MAX_IMAGE_PIXELS`` if set, else 89,478,485
            (Pillow's default ``MAX_IMAGE_PIXELS``).
    """

    def __init__(self, to_rgb: bool = True, max_pixels: Optional[int] = None) -> None:
        self.to_rgb = to_rgb
        self.max_pixels = resolve_max_pixels(max_pixels)

    def transform(self, results: dict) -> dict:
        """Load the image.

        Args:
            results: A sample with ``img_path``.

        Returns:
            The sample with ``img``, ``img_shape`` and ``ori_shape`` set.

        Raises:
            ImageDecodeError: The file is missing, empty, larger than ``max_pixels`` or not a
                decodable image.
        """
        path = results['img_path']
        data = _read_bytes(path)
        check_pixels(data, path, self.max_pixels)
        img = decode_image(data, path, self.to_rgb)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
