"""Reading Fashion-MNIST's idx files (the Debian package's, or torchvision's download)."""
import gzip
import os.path as osp
from typing import Tuple

import numpy as np

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
CLASSES = ('T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
           'Sneaker', 'Bag', 'Ankle_boot')
SPLIT_FILES = {'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
               'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}


def read_idx(path: str) -> np.ndarray:
    """Read an idx file (optionally gzip-compressed) into a numpy array.

    Args:
        path: Path of the ``.idx`` or ``.idx.gz`` file.

    Returns:
        The array, uint8, with the shape stored in the file.

    Raises:
        ValueError: If the file is not a uint8 idx file or is truncated; names the file.
    """
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f'{path} is not a uint8 idx file (bad magic number)')
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise ValueError(f'{path} is truncated: expected {int(np.prod(shape))} values, '
                         f'found {len(data) - offset}')
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def find_fashion_mnist(search_dirs: Tuple[str, ...] = (DEBIAN_DIR, )) -> str:
    """The first folder that holds the four Fashion-MNIST idx files.

    Args:
        search_dirs: Folders to look in, in order.

    Returns:
        The folder.

    Raises:
        FileNotFoundError: If none has all four files (says how to get them).
    """
    needed = [name for pair in SPLIT_FILES.values() for name in pair]
    for folder in search_dirs:
        if all(osp.isfile(osp.join(folder, name)) for name in needed):
            return folder
    raise FileNotFoundError(
        f'Fashion-MNIST idx files {needed} not found in {list(search_dirs)}; install them with '
        '`apt-get install dataset-fashion-mnist` or pass --download')


def load_split(folder: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split.

    Args:
        folder: Folder holding the idx files.
        split: ``'train'`` (60k) or ``'test'`` (10k).

    Returns:
        Images (N, 28, 28) uint8 and labels (N,) uint8.
    """
    images_file, labels_file = SPLIT_FILES[split]
    images = read_idx(osp.join(folder, images_file))
    labels = read_idx(osp.join(folder, labels_file))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f'{folder}: {images.shape[0]} images but {labels.shape[0]} labels')
    return images, labels
