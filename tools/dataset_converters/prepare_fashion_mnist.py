#!/usr/bin/env python
"""Write Fashion-MNIST as an ImageNet-style folder, so demos use the ImageNet code path.

Layout written::

    OUT/train/<class>/<index>.png     OUT/meta/train.txt  ("train/<class>/<index>.png <label>")
    OUT/val/<class>/<index>.png       OUT/meta/val.txt    (the 10k test split)
                                      OUT/meta/unlabeled.txt (with --unlabeled: every image of
                                      the 60k train split, for self-supervised pretraining)

By default the lists hold the first 300 train and 200 test images of each class (3000 / 2000
images: the split of the Fashion-MNIST configs and of tools/demo.sh); ``--all`` lists the whole
60000 / 10000. A re-run with other sizes deletes the images an earlier run of this converter
wrote into OUT that the new lists no longer name (a file at the converter's own path for a
Fashion-MNIST image holding exactly that image; nothing else is touched), and a stale
``meta/unlabeled.txt`` without ``--unlabeled``.

The idx files come from the Debian package ``dataset-fashion-mnist`` when installed, or from
torchvision's downloader with ``--download``.
"""
import argparse
import os
import os.path as osp
from typing import Iterable, List, Set

import cv2
import numpy as np

from mmmoco.datasets.sources.fashion_mnist import CLASSES, DEBIAN_DIR, find_fashion_mnist, load_split


def write_list(lines: List[str], out_dir: str, name: str) -> None:
    """Write a file list ``OUT/meta/<name>.txt``.

    Args:
        lines: Its lines (``<relative path> <label>\\n``).
        out_dir: Dataset root.
        name: List name.
    """
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    with open(osp.join(out_dir, 'meta', f'{name}.txt'), 'w', encoding='utf-8') as f:
        f.writelines(lines)


def image_path(split: str, label: int, index: int) -> str:
    """Where the converter writes one image, relative to the dataset root.

    Args:
        split: Folder name (``train`` or ``val``).
        label: The image's class index.
        index: Its index in the source split.

    Returns:
        ``<split>/<class>/<index>.png``.
    """
    return osp.join(split, CLASSES[label], f'{index:05d}.png')


def write_split(images: np.ndarray, labels: np.ndarray, out_dir: str, split: str,
                per_class: int, unlabeled: bool = False) -> int:
    """Write one split's PNGs and its file list.

    Args:
        images: (N, 28, 28) uint8 images.
        labels: (N,) labels.
        out_dir: Dataset root.
        split: Folder and list name (``train`` or ``val``).
        per_class: List at most this many images per class (the first ones); 0 lists all.
        unlabeled: Also write every image of the split (not only the listed ones) and list
            them all in ``meta/unlabeled.txt``.

    Returns:
        The number of images in ``meta/<split>.txt``.
    """
    lines, every, kept = [], [], np.zeros(len(CLASSES), dtype=np.int64)
    for index, (image, label) in enumerate(zip(images, labels)):
        listed = not per_class or kept[label] < per_class
        if not (listed or unlabeled):
            continue
        rel = image_path(split, label, index)
        path = osp.join(out_dir, rel)
        if not osp.exists(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, image)
        every.append(f'{rel} {int(label)}\n')
        if listed:
            kept[label] += 1
            lines.append(every[-1])
    write_list(lines, out_dir, split)
    if unlabeled:
        write_list(every, out_dir, 'unlabeled')
    return len(lines)


def listed_paths(out_dir: str, names: Iterable[str]) -> Set[str]:
    """The image paths that file lists of the dataset name.

    Args:
        out_dir: Dataset root.
        names: List names (``meta/<name>.txt``).

    Returns:
        The paths, relative to the root.
    """
    paths = set()
    for name in names:
        with open(osp.join(out_dir, 'meta', f'{name}.txt'), encoding='utf-8') as f:
            paths.update(line.split()[0] for line in f if line.strip())
    return paths


def is_converter_image(path: str, image: np.ndarray) -> bool:
    """Whether a file is the PNG this converter wrote for ``image``.

    Args:
        path: The file, at the converter's path for the image.
        image: The source image (28, 28) uint8.

    Returns:
        True when it is a regular file (not a link) holding exactly these pixels.
    """
    if not osp.isfile(path) or osp.islink(path):
        return False
    written = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return written is not None and np.array_equal(written, image)


def remove_stale_images(images: np.ndarray, labels: np.ndarray, out_dir: str, split: str,
                        keep: Set[str]) -> int:
    """Delete the images of one split that an earlier run wrote and ``keep`` does not name.

    Only files this converter wrote are deleted: at :func:`image_path` of a source image and
    holding exactly its pixels (:func:`is_converter_image`).

    Args:
        images: The source split's (N, 28, 28) uint8 images.
        labels: Their (N,) labels.
        out_dir: Dataset root.
        split: Folder name (``train`` or ``val``).
        keep: Relative paths the new lists name.

    Returns:
        The number of files deleted.
    """
    removed = 0
    for index, (image, label) in enumerate(zip(images, labels)):
        rel = image_path(split, label, index)
        if rel not in keep and is_converter_image(osp.join(out_dir, rel), image):
            os.remove(osp.join(out_dir, rel))
            removed += 1
    return removed


def positive_int(text: str) -> int:
    """An argparse type: an int >= 1.

    Args:
        text: The command-line value.

    Returns:
        The int.

    Raises:
        argparse.ArgumentTypeError: If it is not an int >= 1.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an int >= 1, got {text!r} (--all lists '
                                         'every image)')
    return value


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The arguments; ``train_per_class`` and ``val_per_class`` are 0 with ``--all``.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog='Default: the 3000 / 2000-image split the Fashion-MNIST configs expect. Images '
               'of an earlier run that the new lists no longer name are deleted.')
    parser.add_argument('out_dir', nargs='?', default='data/fashion_mnist')
    parser.add_argument('--train-per-class', type=positive_int, default=None,
                        help='images per class listed from the 60k train split (default 300)')
    parser.add_argument('--val-per-class', type=positive_int, default=None,
                        help='images per class listed from the 10k test split (default 200)')
    parser.add_argument('--all', action='store_true',
                        help='list every image of both splits (60000 / 10000)')
    parser.add_argument('--unlabeled', action='store_true',
                        help='also write the whole 60k train split, listed in '
                             'meta/unlabeled.txt (pretraining data; labels are not used)')
    parser.add_argument('--download', action='store_true',
                        help=f'download with torchvision when {DEBIAN_DIR} is missing')
    args = parser.parse_args()
    if args.all and (args.train_per_class or args.val_per_class):
        parser.error('--all lists every image: give it without --train-per-class and '
                     '--val-per-class')
    if args.all:
        args.train_per_class = args.val_per_class = 0
    else:
        args.train_per_class = args.train_per_class or 300
        args.val_per_class = args.val_per_class or 200
    return args


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    search = [DEBIAN_DIR]
    if args.download:
        from torchvision.datasets import FashionMNIST
        raw = osp.join(args.out_dir, 'download')
        FashionMNIST(raw, download=True)
        search.append(osp.join(raw, 'FashionMNIST', 'raw'))
    source = find_fashion_mnist(tuple(search))
    for split, name, per_class in (('train', 'train', args.train_per_class),
                                   ('test', 'val', args.val_per_class)):
        images, labels = load_split(source, split)
        unlabeled = args.unlabeled and split == 'train'
        count = write_split(images, labels, args.out_dir, name, per_class, unlabeled)
        print(f'{name}: {count} images listed in meta/{name}.txt under {args.out_dir}')
        if unlabeled:
            print(f'unlabeled: {len(images)} images listed in meta/unlabeled.txt')
        stale_list = osp.join(args.out_dir, 'meta', 'unlabeled.txt')
        if split == 'train' and not unlabeled and osp.isfile(stale_list):
            os.remove(stale_list)
            print(f'removed {stale_list} of an earlier --unlabeled run')
        keep = listed_paths(args.out_dir, [name] + (['unlabeled'] if unlabeled else []))
        removed = remove_stale_images(images, labels, args.out_dir, name, keep)
        if removed:
            print(f'{name}: deleted {removed} images of an earlier run that the lists no '
                  'longer name')


if __name__ == '__main__':
    main()
