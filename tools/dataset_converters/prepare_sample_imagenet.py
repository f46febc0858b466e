#!/usr/bin/env python
"""Write the 20 real ImageNet sample JPEGs in the documented ImageNet layout (docs/data.md).

Layout written::

    OUT/train/<class id>/<image>.jpg
    OUT/meta/train.txt          "<class id>/<image>.jpg <label>" per line, relative to train/

The configs read ``train/`` as class folders; the list is the optional file-list form of the
same split (``--cfg-options train_dataloader.dataset.ann_file=meta/train.txt``).
"""
import argparse
import os
import os.path as osp
import shutil

from mmmoco.datasets.sources.sample_data import imagenet_sample_images


def write_sample_imagenet(out_dir: str) -> int:
    """Copy the sample images into ``OUT/train/<class id>/`` and list them in ``meta/train.txt``.

    Labels are the indices of the class folders in sorted order, as the class-folder reading
    of :class:`mmmoco.datasets.ImageFolderDataset` gives them.

    Args:
        out_dir: Destination root.

    Returns:
        The number of images written.
    """
    samples = imagenet_sample_images()
    folders = sorted({f'{class_id:04d}' for _, class_id in samples})
    label_of = {folder: label for label, folder in enumerate(folders)}
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    lines = []
    for path, class_id in samples:
        rel = osp.join(f'{class_id:04d}', osp.basename(path))
        os.makedirs(osp.join(out_dir, 'train', osp.dirname(rel)), exist_ok=True)
        shutil.copyfile(path, osp.join(out_dir, 'train', rel))
        lines.append(f'{rel} {label_of[osp.dirname(rel)]}\n')
    with open(osp.join(out_dir, 'meta', 'train.txt'), 'w', encoding='utf-8') as f:
        f.writelines(sorted(lines))
    return len(lines)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='destination folder, e.g. data/imagenet_samples')
    args = parser.parse_args()
    count = write_sample_imagenet(args.out_dir)
    print(f'wrote {count} images to {osp.join(args.out_dir, "train")} and their list to '
          f'{osp.join(args.out_dir, "meta", "train.txt")}')


if __name__ == '__main__':
    main()
