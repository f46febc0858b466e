#!/usr/bin/env python
"""Write the optional ImageNet file lists meta/train.txt and meta/val.txt from class folders.

Reads ``DATA_ROOT/<split>/<wnid>/*`` for each split and writes ``DATA_ROOT/meta/<split>.txt``
with one ``<wnid>/<file> <label>`` line per image, paths relative to ``DATA_ROOT/<split>/``
(the config's ``data_prefix``), labels the index of the wnid in the sorted class folders of the
first split, so every list uses the same labels. The images and labels are exactly those the
configs read from the class folders. Existing lists are kept unless ``--force`` is given.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

from mmmoco.datasets.image_folder import IMG_EXTENSIONS, list_images


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='dataset root, e.g. data/imagenet')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        help='split folders under data_root; the first one fixes the labels')
    parser.add_argument('--force', action='store_true', help='overwrite existing lists')
    return parser.parse_args()


def class_folders(folder: str) -> List[str]:
    """The sorted class sub-folders of a split folder.

    Args:
        folder: The split folder, e.g. ``data/imagenet/train``.

    Returns:
        The sub-folder names.

    Raises:
        FileNotFoundError: If the folder does not exist.
        ValueError: If it has no sub-folders.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'split folder {folder} does not exist')
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise ValueError(f'{folder} has no class sub-folders (<wnid>/<image> expected)')
    return classes


def split_lines(folder: str, labels: Dict[str, int],
                extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """The ``<class>/<file> <label>`` lines of one split, in the class-folder reading order.

    Args:
        folder: The split folder.
        labels: Label of every class folder name.
        extensions: File name endings that count as images.

    Returns:
        The lines (without newlines).

    Raises:
        ValueError: If the split has a class folder that ``labels`` lacks, or a class folder
            without images.
    """
    lines = []
    for name in class_folders(folder):
        if name not in labels:
            raise ValueError(f'{osp.join(folder, name)} is not a class of the first split; '
                             'every split must use the same class folders')
        paths = list_images(osp.join(folder, name), tuple(extensions), recursive=True)
        if not paths:
            raise ValueError(f'class folder {osp.join(folder, name)} has no images')
        lines.extend(f'{osp.relpath(path, folder)} {labels[name]}' for path in paths)
    return lines


def check_paths(lines: Sequence[str], folder: str) -> None:
    """Refuse file names the list format cannot hold (whitespace separates path and label).

    Args:
        lines: The lines to write.
        folder: Their split folder, for the message.

    Raises:
        ValueError: If a path contains whitespace (names it).
    """
    for line in lines:
        if len(line.split()) != 2:
            raise ValueError(f'{osp.join(folder, line.rsplit(" ", 1)[0])!r} has whitespace '
                             'in its path; the "path label" list format cannot hold it')


def make_lists(data_root: str, splits: Sequence[str] = ('train', 'val'),
               force: bool = False) -> Dict[str, int]:
    """Write ``meta/<split>.txt`` for every split folder.

    Nothing is written if any list exists and ``force`` is false.

    Args:
        data_root: Dataset root.
        splits: Split folder names; the first one's class folders fix the labels.
        force: Overwrite existing lists.

    Returns:
        ``{list path: number of lines}``.

    Raises:
        FileExistsError: If a list exists and ``force`` is false (names them).
        FileNotFoundError: If a split folder is missing.
        ValueError: If a split is empty or has classes the first split lacks.
    """
    outputs = [osp.join(data_root, 'meta', f'{split}.txt') for split in splits]
    existing = [path for path in outputs if osp.exists(path)]
    if existing and not force:
        raise FileExistsError(f'{", ".join(existing)} already exist(s); pass --force to '
                              'overwrite')
    labels = {name: label
              for label, name in enumerate(class_folders(osp.join(data_root, splits[0])))}
    contents: List[Tuple[str, List[str]]] = []
    for split, path in zip(splits, outputs):
        folder = osp.join(data_root, split)
        lines = split_lines(folder, labels)
        check_paths(lines, folder)
        contents.append((path, lines))
    os.makedirs(osp.join(data_root, 'meta'), exist_ok=True)
    for path, lines in contents:
        with open(path, 'w', encoding='utf-8') as f:
            f.writelines(f'{line}\n' for line in lines)
    return {path: len(lines) for path, lines in contents}


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    try:
        counts = make_lists(args.data_root, args.splits, args.force)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f'make_imagenet_lists.py: {error}') from error
    for path, count in counts.items():
        print(f'{path}: {count} images')


if __name__ == '__main__':
    main()
