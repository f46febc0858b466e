#!/usr/bin/env python
"""Write the 20 real ImageNet sample JPEGs as an ImageNet-style folder with meta/ lists.

Layout written (the one ``configs/_base_/datasets/imagenet_*.py`` expect)::

    OUT/train/<class id>/<image>.jpg
    OUT/meta/train.txt          "train/<class id>/<image>.jpg <label>" per line
"""
import argparse
import os
import os.path as osp
import shutil

from mmmoco.datasets.sources.sample_data import imagenet_sample_images


def write_sample_imagenet(out_dir: str) -> int:
    """Copy the sample images into an ImageNet-style folder.

    Args:
        out_dir: Destination root.

    Returns:
        The number of images written.
    """
    samples = imagenet_sample_images()
    classes = sorted({class_id for _, class_id in samples})
    label_of = {class_id: i for i, class_id in enumerate(classes)}
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    lines = []
    for path, class_id in samples:
        rel = osp.join('train', f'{class_id:04d}', osp.basename(path))
        os.makedirs(osp.dirname(osp.join(out_dir, rel)), exist_ok=True)
        shutil.copyfile(path, osp.join(out_dir, rel))
        lines.append(f'{rel} {label_of[class_id]}\n')
    with open(osp.join(out_dir, 'meta', 'train.txt'), 'w', encoding='utf-8') as f:
        f.writelines(lines)
    return len(lines)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='destination folder, e.g. data/imagenet_samples')
    args = parser.parse_args()
    count = write_sample_imagenet(args.out_dir)
    print(f'wrote {count} images to {args.out_dir}')


if __name__ == '__main__':
    main()
