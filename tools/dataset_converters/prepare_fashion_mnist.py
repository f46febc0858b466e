#!/usr/bin/env python
"""Write Fashion-MNIST as an ImageNet-style folder, so demos use the ImageNet code path.

Layout written::

    OUT/train/<class>/<index>.png     OUT/meta/train.txt  ("train/<class>/<index>.png <label>")
    OUT/val/<class>/<index>.png       OUT/meta/val.txt    (the 10k test split)
                                      OUT/meta/unlabeled.txt (with --unlabeled: every image of
                                      the 60k train split, for self-supervised pretraining)

The idx files come from the Debian package ``dataset-fashion-mnist`` when installed, or from
torchvision's downloader with ``--download``.
"""
import argparse
import os
import os.path as osp
from typing import List

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
        rel = osp.join(split, CLASSES[label], f'{index:05d}.png')
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


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', nargs='?', default='data/fashion_mnist')
    parser.add_argument('--train-per-class', type=int, default=0,
                        help='images per class kept from the 60k train split (0: all)')
    parser.add_argument('--val-per-class', type=int, default=0,
                        help='images per class kept from the 10k test split (0: all)')
    parser.add_argument('--unlabeled', action='store_true',
                        help='also write the whole 60k train split, listed in '
                             'meta/unlabeled.txt (pretraining data; labels are not used)')
    parser.add_argument('--download', action='store_true',
                        help=f'download with torchvision when {DEBIAN_DIR} is missing')
    args = parser.parse_args()
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


if __name__ == '__main__':
    main()
