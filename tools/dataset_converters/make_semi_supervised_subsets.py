#!/usr/bin/env python
"""Write class-balanced p% subsets of a labelled file list, for semi-supervised evaluation.

``DATA_ROOT/meta/train.txt`` (``path label`` lines) gives ``DATA_ROOT/meta/train_{p}percent.txt``
with ``round(p% x n_c)`` (at least 1) lines of every class c, drawn reproducibly from the seed.
Without the list, the class folders ``DATA_ROOT/train/<wnid>/`` are read instead (the same
images and labels as ``make_imagenet_lists.py`` would list); the subsets' paths are relative
to ``train/`` either way (docs/data.md).
"""
import argparse
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Sequence

import numpy as np
from make_imagenet_lists import class_folders, split_lines


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='dataset root')
    parser.add_argument('--ann-file', default='meta/train.txt',
                        help='labelled list relative to data_root')
    parser.add_argument('--img-dir', default='train',
                        help='class folders relative to data_root, read when the list is absent')
    parser.add_argument('--percents', nargs='+', type=float, default=[1, 10],
                        help='subset sizes in percent of each class')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='overwrite existing subsets')
    return parser.parse_args()


def read_lines(path: str) -> List[str]:
    """The non-blank lines of a file list, stripped.

    Args:
        path: The list file.

    Returns:
        The lines.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it lists nothing.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file {path} does not exist')
    with open(path, encoding='utf-8') as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise ValueError(f'annotation file {path} is empty')
    return lines


def source_lines(data_root: str, ann_file: str, img_dir: str = 'train') -> List[str]:
    """The labelled lines to draw from: the file list, or the class folders when it is absent.

    Args:
        data_root: Dataset root.
        ann_file: The full list, relative to ``data_root``.
        img_dir: The class folders, relative to ``data_root``.

    Returns:
        ``path label`` lines, paths relative to ``img_dir``.

    Raises:
        FileNotFoundError: If neither the list nor the class folders exist (names both).
        ValueError: If the list is empty or a class folder has no images.
    """
    path = osp.join(data_root, ann_file)
    if osp.isfile(path):
        return read_lines(path)
    folder = osp.join(data_root, img_dir)
    if not osp.isdir(folder):
        raise FileNotFoundError(f'neither the file list {path} nor the class folders {folder} '
                                'exist')
    labels = {name: label for label, name in enumerate(class_folders(folder))}
    return split_lines(folder, labels)


def group_by_label(lines: Sequence[str]) -> Dict[int, List[int]]:
    """Group the indices of ``path label`` lines by label.

    Args:
        lines: The lines.

    Returns:
        ``{label: line indices in file order}``, sorted by label.

    Raises:
        ValueError: If a line is not ``path label`` with an integer label (quotes it).
    """
    groups = defaultdict(list)
    for index, line in enumerate(lines):
        fields = line.split()
        if len(fields) != 2 or not fields[1].lstrip('-').isdigit():
            raise ValueError(f'expected "path label" with an integer label, got {line!r}')
        groups[int(fields[1])].append(index)
    return dict(sorted(groups.items()))


def class_quota(count: int, percent: float) -> int:
    """Lines kept from a class: ``round(percent% of count)``, at least 1.

    Args:
        count: Lines of the class.
        percent: Subset size in percent, in (0, 100].

    Returns:
        The number kept.
    """
    return max(1, int(round(count * percent / 100)))


def sample_subset(lines: Sequence[str], percent: float, seed: int) -> List[str]:
    """A class-balanced random subset of a labelled list.

    Every class keeps :func:`class_quota` of its lines, drawn without replacement from a
    generator seeded with ``seed``; the kept lines stay in their input order.

    Args:
        lines: ``path label`` lines.
        percent: Subset size in percent of each class, in (0, 100].
        seed: Seed of the draw.

    Returns:
        The kept lines.

    Raises:
        ValueError: If ``percent`` is outside (0, 100] or a line is malformed.
    """
    if not 0 < percent <= 100:
        raise ValueError(f'percent must be in (0, 100], got {percent}')
    rng = np.random.default_rng(seed)
    kept = [rng.choice(group, class_quota(len(group), percent), replace=False)
            for group in group_by_label(lines).values()]
    return [lines[i] for i in sorted(np.concatenate(kept).tolist())]


def subset_path(data_root: str, ann_file: str, percent: float) -> str:
    """Where the subset of a list goes: ``train.txt`` -> ``train_10percent.txt``.

    Args:
        data_root: Dataset root.
        ann_file: The full list, relative to ``data_root``.
        percent: Subset size in percent (written without a trailing ``.0``).

    Returns:
        The subset's path.
    """
    stem, ext = osp.splitext(osp.join(data_root, ann_file))
    return f'{stem}_{percent:g}percent{ext}'


def check_outputs(paths: Sequence[str], force: bool) -> None:
    """Refuse to replace existing files unless forced.

    Args:
        paths: The output files.
        force: Allow overwriting.

    Raises:
        FileExistsError: If any path exists and ``force`` is false (names them all).
    """
    existing = [path for path in paths if osp.exists(path)]
    if existing and not force:
        raise FileExistsError(f'{", ".join(existing)} already exist(s); pass --force to '
                              'overwrite')


def write_lines(path: str, lines: Sequence[str]) -> None:
    """Write a file list, one line each.

    Args:
        path: Output file.
        lines: The lines.
    """
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(f'{line}\n' for line in lines)


def make_subsets(data_root: str, ann_file: str, percents: Sequence[float], seed: int,
                 force: bool = False, img_dir: str = 'train') -> Dict[str, int]:
    """Write one class-balanced subset per percentage.

    No file is written if any output exists and ``force`` is false.

    Args:
        data_root: Dataset root.
        ann_file: The full list, relative to ``data_root``.
        percents: Subset sizes in percent.
        seed: Seed of the draws (the same for every percentage).
        force: Overwrite existing subsets.
        img_dir: Class folders read when ``ann_file`` does not exist.

    Returns:
        ``{output path: number of lines}``.

    Raises:
        FileExistsError: If an output exists and ``force`` is false.
    """
    paths = [subset_path(data_root, ann_file, p) for p in percents]
    check_outputs(paths, force)
    lines = source_lines(data_root, ann_file, img_dir)
    os.makedirs(osp.dirname(paths[0]), exist_ok=True)
    counts = {}
    for path, percent in zip(paths, percents):
        subset = sample_subset(lines, percent, seed)
        write_lines(path, subset)
        counts[path] = len(subset)
    return counts


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    try:
        counts = make_subsets(args.data_root, args.ann_file, args.percents, args.seed,
                              args.force, args.img_dir)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f'make_semi_supervised_subsets.py: {error}') from error
    for (path, count), percent in zip(counts.items(), args.percents):
        print(f'{path}: {count} lines ({percent:g}% of each class)')


if __name__ == '__main__':
    main()
