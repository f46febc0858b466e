"""The images a user hands to :func:`~mmmoco.apis.embed` (a folder, file paths, PIL images or
numpy arrays) as a dataset that runs a config's test-time transforms."""
import os
from typing import Any, List, Sequence, Union

import cv2
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from mmmoco.datasets import IMG_EXTENSIONS, list_images
from mmmoco.datasets.transforms import LoadImageFromFile, build_transforms

#: What :func:`embed` takes: a folder, or a list of file paths, PIL images and arrays.
Images = Union[str, os.PathLike, Sequence[Union[str, os.PathLike, np.ndarray, Image.Image]]]


def image_items(images: Images) -> List[Any]:
    """The images to embed, in order: a folder's image files (sorted, sub-folders included),
    or the given list with its paths checked.

    Args:
        images: A folder path, or a list of image file paths, PIL images and HWC uint8 arrays.

    Returns:
        The list of paths (str) and in-memory images.

    Raises:
        FileNotFoundError: If the folder or a listed file does not exist (names it).
        ValueError: If there is no image.
        TypeError: If ``images`` is a single array or image file instead of a folder or list.
    """
    if isinstance(images, (str, os.PathLike)):
        folder = os.fspath(images)
        if not os.path.isdir(folder):
            kind = 'a file: pass [path] for one image' if os.path.isfile(folder) else 'missing'
            raise FileNotFoundError(f'{folder!r} is not a folder of images ({kind})')
        items = list_images(folder, IMG_EXTENSIONS, recursive=True)
        if not items:
            raise ValueError(f'{folder!r} has no image files (endings {IMG_EXTENSIONS}, '
                             'sub-folders included)')
        return items
    if isinstance(images, (np.ndarray, Image.Image)):
        raise TypeError('pass a list of images (e.g. list(batch) for an (N, H, W, 3) array), '
                        f'not one {type(images).__name__}')
    items = [os.fspath(item) if isinstance(item, os.PathLike) else item for item in images]
    if not items:
        raise ValueError('no images to embed: the list is empty')
    for index, item in enumerate(items):
        if isinstance(item, str) and not os.path.isfile(item):
            raise FileNotFoundError(f'image {index}: {item!r} does not exist')
    return items


def rgb_array(image: Union[np.ndarray, Image.Image], index: int) -> np.ndarray:
    """An in-memory image as the HWC uint8 RGB array that ``LoadImageFromFile`` gives.

    Args:
        image: A PIL image (any mode), or a uint8 array (H, W) or (H, W, C) with C = 1, 3
            (RGB) or 4 (RGBA; alpha dropped).
        index: The image's position, for messages.

    Returns:
        The (H, W, 3) uint8 RGB array.

    Raises:
        TypeError: If it is neither, or an array of another dtype.
        ValueError: If the array has another shape.
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert('RGB'))
    if not isinstance(image, np.ndarray):
        raise TypeError(f'image {index}: expected a file path, a PIL image or a numpy array, '
                        f'got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise TypeError(f'image {index}: expected a uint8 array (0-255), got {image.dtype}; '
                        'convert it, e.g. (x * 255).round().astype(np.uint8) for values in [0, 1]')
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return np.repeat(image.reshape(image.shape[:2] + (1, )), 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[..., :3])
    raise ValueError(f'image {index}: expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) '
                     f'array, got shape {image.shape}')


class ImageInputs(Dataset):
    """Images from :func:`image_items` through a test-time pipeline.

    A file goes through the whole pipeline; an in-memory image enters it after its first
    transform, ``LoadImageFromFile``, as the RGB array that transform would have made (BGR
    when the transform is configured with ``to_rgb=False``).

    Args:
        images: See :func:`image_items`.
        pipeline: Transform configs starting with ``LoadImageFromFile``.

    Raises:
        ValueError: If the pipeline does not start with ``LoadImageFromFile``.
    """

    def __init__(self, images: Images, pipeline: Sequence[dict]) -> None:
        self.items = image_items(images)
        transforms = build_transforms(pipeline, 'embed')
        if not transforms or not isinstance(transforms[0], LoadImageFromFile):
            raise ValueError(f'embed needs a test-time pipeline that starts with '
                             f'LoadImageFromFile, got {list(pipeline)!r}')
        self.load, self.transforms = transforms[0], transforms[1:]

    def __len__(self) -> int:
        """The number of images.

        Returns:
            The count.
        """
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """Load and transform one image.

        Args:
            index: Its position.

        Returns:
            The pipeline's output (``inputs`` and a ``data_samples`` with ``sample_idx``).
        """
        item = self.items[index]
        if isinstance(item, str):
            results = self.load(dict(img_path=item, sample_idx=index))
        else:
            img = rgb_array(item, index)
            if not self.load.to_rgb:
                img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                           img_path=f'<image {index}>', sample_idx=index)
        for transform in self.transforms:
            results = transform(results)
        return results
