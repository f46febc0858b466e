"""Datasets of image files on disk: class sub-folders, a file list, or a flat unlabeled folder,
and ``AutoImageFolder``, which picks one of them from what is on disk."""
import difflib
import logging
import os
from typing import Callable, List, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmmoco.registry import DATASETS
from .sample_seeds import SeededIndex, seeded_generators
from .transforms import ImageDecodeError, build_transforms

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')

#: File-list labels are class indices stored as int64 tensors: they must lie below this bound.
LABEL_LIMIT = 2**31


def _prefix_dict(data_prefix: Union[str, dict]) -> dict:
    if isinstance(data_prefix, str):
        return dict(img_path=data_prefix)
    if isinstance(data_prefix, dict) and set(data_prefix) == {'img_path'}:
        return dict(data_prefix)
    raise ValueError(f"data_prefix must be a str or dict(img_path=...), got {data_prefix!r}")


def _is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def walk_files(folder: str) -> List[str]:
    """Every non-folder entry below a folder, following symbolic links to folders.

    A link to a folder that contains the link (``train/Bag/loop -> ..``) would list the same
    images again and again, and a link to a folder this walk has already scanned would list
    them twice; both are skipped with a warning naming the link.

    Args:
        folder: The folder to scan.

    Returns:
        The paths (unsorted), each joined to ``folder``.
    """
    root = os.path.realpath(folder)
    visited = {root}
    pending = [(folder, root)]
    files = []
    while pending:
        path, real_path = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if not entry.is_dir():
                    files.append(entry.path)
                    continue
                target = os.path.realpath(entry.path)
                if _is_within(real_path, target):
                    problem = 'which contains the link itself (a symlink loop)'
                elif target in visited:
                    problem = f'which this scan of {folder!r} has already listed'
                else:
                    visited.add(target)
                    pending.append((entry.path, target))
                    continue
                print_log(f'skipped {entry.path!r}: a symbolic link to {target!r}, {problem}',
                          logger='current', level=logging.WARNING)
    return files


def list_images(folder: str, extensions: Tuple[str, ...], recursive: bool) -> List[str]:
    """List the image files in a folder, sorted.

    Args:
        folder: The folder to scan.
        extensions: Lower-case file name endings that count as images.
        recursive: Also scan sub-folders, following symbolic links but not symlink loops
            (see :func:`walk_files`).

    Returns:
        The sorted paths, each joined to ``folder``.
    """
    if recursive:
        paths = walk_files(folder)
    else:
        paths = [entry.path for entry in os.scandir(folder) if entry.is_file()]
    return sorted(path for path in paths if path.lower().endswith(extensions))


class _ImageFileDataset(BaseDataset):
    """Base of the image file datasets: builds the pipeline with mmmoco's registry and never
    swaps a failing sample for a random other one.

    An unreadable image (missing, empty or undecodable file) stops the run with an
    :class:`ImageDecodeError` naming the file. With ``skip_unreadable=True`` (for uncurated
    data) such a sample is replaced by the next readable one in index order (wrapping around),
    with a warning naming the file and the count of images skipped so far by this process.
    The replacement depends only on the files, so it is the same in every epoch, on every
    worker and after a resume: training stays deterministic and resume stays exact.

    An index may come as a :class:`~mmmoco.datasets.sample_seeds.SeededIndex` (the train
    loop's :class:`~mmmoco.datasets.sample_seeds.SampleSeedSampler` hands those out): the
    pipeline then draws from generators seeded by the item's seed, so the augmentation does not
    depend on the data loader worker.

    Args:
        data_prefix: The image folder relative to ``data_root``, as a str or
            ``dict(img_path=...)``.
        pipeline: Transform configs or callables.
        extensions: File name endings (case-insensitive) that count as images.
        skip_unreadable: Replace unreadable images by the next readable sample instead of
            stopping.
        **kwargs: Further :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``ann_file``, ``lazy_init``, ``serialize_data``, ...).
    """

    #: ``__getitem__`` takes :class:`SeededIndex` items (see :class:`SampleSeedSampler`)
    accepts_seeded_indices = True

    def __init__(self, data_prefix: Union[str, dict] = '',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 extensions: Sequence[str] = IMG_EXTENSIONS, skip_unreadable: bool = False,
                 **kwargs) -> None:
        if not isinstance(skip_unreadable, bool):
            raise ValueError(f'skip_unreadable must be True or False, got {skip_unreadable!r}')
        self.skip_unreadable = skip_unreadable
        self.skipped_count = 0
        if (isinstance(extensions, str) or not extensions
                or not all(isinstance(ext, str) and ext.startswith('.') for ext in extensions)):
            raise ValueError(f"extensions must be a non-empty list of endings such as '.jpg', "
                             f'got {extensions!r}')
        self.extensions = tuple(ext.lower() for ext in extensions)
        super().__init__(data_prefix=_prefix_dict(data_prefix),
                         pipeline=build_transforms(pipeline, type(self).__name__), **kwargs)

    @property
    def img_dir(self) -> str:
        """The image folder, ``data_root`` joined with ``data_prefix``.

        Returns:
            The folder path ('' means the working directory).
        """
        return self.data_prefix['img_path']

    def _checked_img_dir(self) -> str:
        folder = self.img_dir or '.'
        if not os.path.isdir(folder):
            raise FileNotFoundError(f'{type(self).__name__}: image folder {folder!r} '
                                    f'(data_root={self.data_root!r} + data_prefix) does not exist')
        return folder

    def _prepare_readable(self, idx: int) -> dict:
        """Prepare sample ``idx`` or, if its image is unreadable, the next readable one."""
        for offset in range(len(self)):
            index = (idx + offset) % len(self)
            try:
                return self.prepare_data(index)
            except ImageDecodeError as error:
                self.skipped_count += 1
                print_log(f'{type(self).__name__}: skipped an unreadable image, {error}; '
                          f'{self.skipped_count} skipped so far by this process (sample {idx} '
                          'is replaced by the next readable one)', logger='current',
                          level=logging.WARNING)
        raise RuntimeError(f'{type(self).__name__}: none of the {len(self)} images in '
                           f'{self.img_dir!r} can be read (skip_unreadable=True)')

    def __getitem__(self, idx: Union[int, SeededIndex]) -> dict:
        """Load and transform one sample; an unreadable image raises (or, with
        ``skip_unreadable``, is replaced by the next readable sample), other errors propagate.

        Args:
            idx: The sample index, or a :class:`SeededIndex` whose seed seeds ``np.random``
                and ``random`` for the pipeline.

        Returns:
            The output of the pipeline.

        Raises:
            ImageDecodeError: The image is unreadable (without ``skip_unreadable``).
        """
        if isinstance(idx, SeededIndex):
            with seeded_generators(idx.seed):
                return self._load(idx.index)
        return self._load(idx)

    def _load(self, idx: int) -> dict:
        """Load and transform sample ``idx`` with the current generators."""
        self.full_init()
        data = self._prepare_readable(idx) if self.skip_unreadable else self.prepare_data(idx)
        if data is None:
            raise RuntimeError(f'{type(self).__name__}: the pipeline returned None for sample '
                               f'{idx} ({self.get_data_info(idx)["img_path"]})')
        return data


@DATASETS.register_module()
class ImageFolderDataset(_ImageFileDataset):
    """ImageNet-style dataset: a file list, or one sub-folder per class.

    With ``ann_file``, each non-blank line is ``relative/path.jpg LABEL`` or just
    ``relative/path.jpg`` (unlabeled, label -1), paths relative to the image folder; listed
    files are not checked here (the loading transform names a missing one). Without it, the
    sorted sub-folder names of the image folder are the classes (``metainfo['classes']``) and
    every image under each (recursively) is a sample of that class.

    Args:
        data_root: The dataset root.
        data_prefix: The image folder relative to ``data_root``, a str or
            ``dict(img_path=...)``.
        ann_file: The file list relative to ``data_root`` ('' scans class folders).
        pipeline: Transform configs or callables.
        extensions: File name endings (case-insensitive) that count as images.
        **kwargs: ``skip_unreadable`` (see :class:`_ImageFileDataset`) and further
            :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self, data_root: str = '', data_prefix: Union[str, dict] = '',
                 ann_file: str = '', pipeline: Sequence[Union[dict, Callable]] = (),
                 extensions: Sequence[str] = IMG_EXTENSIONS, **kwargs) -> None:
        super().__init__(data_root=data_root, data_prefix=data_prefix, ann_file=ann_file,
                         pipeline=pipeline, extensions=extensions, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the file list or scan the class folders.

        Returns:
            One dict per image with ``img_path``, ``gt_label`` (-1 when unlabeled) and
            ``sample_idx``.
        """
        folder = self._checked_img_dir()
        samples = self._read_ann_file(folder) if self.ann_file else self._scan_classes(folder)
        return [dict(img_path=path, gt_label=label, sample_idx=index)
                for index, (path, label) in enumerate(samples)]

    def _read_ann_file(self, folder: str) -> List[Tuple[str, int]]:
        if not os.path.isfile(self.ann_file):
            raise FileNotFoundError(f'ImageFolderDataset: ann_file {self.ann_file!r} does not '
                                    'exist')
        classes = self._metainfo.get('classes')
        limit = min(LABEL_LIMIT, len(classes)) if classes else LABEL_LIMIT
        samples = []
        with open(self.ann_file, encoding='utf-8') as file:
            for line_number, line in enumerate(file, start=1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) > 2 or (len(fields) == 2 and not fields[1].isdecimal()):
                    raise ValueError(f'{self.ann_file}:{line_number}: expected "path [label]" '
                                     f'with a non-negative int label, got {line.rstrip()!r}')
                label = int(fields[1]) if len(fields) == 2 else -1
                if label >= limit:
                    known = f' (the dataset has {len(classes)} classes)' if classes else ''
                    raise ValueError(f'{self.ann_file}:{line_number}: label {fields[1]} is out '
                                     f'of range: a label is a class index in [0, {limit})'
                                     f'{known}')
                samples.append((os.path.join(folder, fields[0]), label))
        if not samples:
            raise ValueError(f'ImageFolderDataset: ann_file {self.ann_file!r} lists no images')
        return samples

    def _scan_classes(self, folder: str) -> List[Tuple[str, int]]:
        classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        if not classes:
            raise ValueError(f'ImageFolderDataset: {folder!r} has no class sub-folders (use '
                             'UnlabeledImageFolder for a flat folder, or give ann_file)')
        samples = []
        for label, name in enumerate(classes):
            paths = list_images(os.path.join(folder, name), self.extensions, recursive=True)
            if not paths:
                raise ValueError(f'ImageFolderDataset: class folder '
                                 f'{os.path.join(folder, name)!r} has no files ending in '
                                 f'{self.extensions}')
            samples.extend((path, label) for path in paths)
        self._metainfo['classes'] = tuple(classes)
        return samples


@DATASETS.register_module()
class UnlabeledImageFolder(_ImageFileDataset):
    """Every image file in a folder (sorted), all unlabeled (``gt_label`` -1).

    Args:
        data_root: The dataset root.
        data_prefix: The image folder relative to ``data_root``, a str or
            ``dict(img_path=...)``.
        pipeline: Transform configs or callables.
        recursive: Also take images in sub-folders.
        extensions: File name endings (case-insensitive) that count as images.
        **kwargs: ``skip_unreadable`` (see :class:`_ImageFileDataset`) and further
            :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self, data_root: str, data_prefix: Union[str, dict] = '',
                 pipeline: Sequence[Union[dict, Callable]] = (), recursive: bool = True,
                 extensions: Sequence[str] = IMG_EXTENSIONS, **kwargs) -> None:
        self.recursive = recursive
        super().__init__(data_root=data_root, data_prefix=data_prefix, pipeline=pipeline,
                         extensions=extensions, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Scan the image folder.

        Returns:
            One dict per image with ``img_path``, ``gt_label`` (-1) and ``sample_idx``.
        """
        folder = self._checked_img_dir()
        paths = list_images(folder, self.extensions, self.recursive)
        if not paths:
            raise ValueError(f'UnlabeledImageFolder: {folder!r} has no files ending in '
                             f'{self.extensions}' + (' (recursively)' if self.recursive else ''))
        return [dict(img_path=path, gt_label=-1, sample_idx=index)
                for index, path in enumerate(paths)]


def _holds_an_image(folder: str, endings: Tuple[str, ...]) -> bool:
    """Whether a folder or any folder below it (symbolic links not followed) holds an image."""
    return any(name.lower().endswith(endings)
               for _, _, files in os.walk(folder) for name in files)


def has_class_folders(folder: str, extensions: Sequence[str]) -> bool:
    """Whether a folder is laid out as class folders: sub-folders that each hold images (at
    any depth), and no image beside them.

    Args:
        folder: An existing folder.
        extensions: File name endings (case-insensitive) that count as images.

    Returns:
        True for the class-folder layout; False for a flat folder, images at the top of a
        nested one, or a sub-folder without images (e.g. ``meta/``).
    """
    endings = tuple(ext.lower() for ext in extensions)
    with os.scandir(folder) as scan:
        entries = list(scan)
    subfolders = [entry.path for entry in entries if entry.is_dir()]
    return (bool(subfolders)
            and not any(entry.is_file() and entry.name.lower().endswith(endings)
                        for entry in entries)
            and all(_holds_an_image(path, endings) for path in subfolders))


def _refuse_a_near_miss(list_path: str) -> None:
    """Refuse a missing file list whose folder holds a file of nearly its name (a typo), which
    would otherwise silently switch the dataset to reading the folder.

    Args:
        list_path: The missing file list.

    Raises:
        FileNotFoundError: If the list's folder holds a file whose name is close to it.
    """
    folder, name = os.path.split(list_path)
    if not os.path.isdir(folder or '.'):
        return
    candidates = [entry.name for entry in os.scandir(folder or '.') if entry.is_file()]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
    if close:
        raise FileNotFoundError(
            f'AutoImageFolder: ann_file {list_path!r} does not exist, but '
            f'{os.path.join(folder, close[0])!r} does: correct ann_file, or set ann_file=\'\' '
            'to read the image folder instead')


def auto_image_folder(data_root: str = '', data_prefix: Union[str, dict] = '',
                      ann_file: str = '', pipeline: Sequence[Union[dict, Callable]] = (),
                      extensions: Sequence[str] = IMG_EXTENSIONS,
                      **kwargs) -> _ImageFileDataset:
    """The image dataset that fits what is on disk (registered as ``AutoImageFolder``), so a
    pretraining recipe takes any folder of images by changing only its data root.

    In this order: the file list ``ann_file`` when it exists (an :class:`ImageFolderDataset`
    reading it, labels where the lines have them); class folders when the image folder holds
    sub-folders that all hold images and no image of its own (an :class:`ImageFolderDataset`
    scanning them, the ImageNet layout; see :func:`has_class_folders`); otherwise every image
    in the folder and below it, unlabeled (an :class:`UnlabeledImageFolder`: a flat folder, or
    nested folders without classes).
    One INFO line in the log says which was chosen and why.

    Args:
        data_root: The dataset root.
        data_prefix: The image folder relative to ``data_root``, a str or
            ``dict(img_path=...)``.
        ann_file: The file list relative to ``data_root``; used only when it exists (a
            missing one whose folder holds a file of nearly its name is refused as a typo).
        pipeline: Transform configs or callables.
        extensions: File name endings (case-insensitive) that count as images.
        **kwargs: Further arguments of the chosen dataset (``skip_unreadable``,
            ``serialize_data``, ``lazy_init``, ...).

    Returns:
        The dataset.

    Raises:
        FileNotFoundError: If ``ann_file`` is missing but a file of nearly its name exists.
    """
    folder = os.path.join(data_root, _prefix_dict(data_prefix)['img_path']) or '.'
    list_path = os.path.join(data_root, ann_file) if ann_file else ''
    common = dict(data_root=data_root, data_prefix=data_prefix, pipeline=pipeline,
                  extensions=extensions, **kwargs)
    no_list = f'no file list at {list_path!r}' if list_path else 'no ann_file'
    has_list = bool(list_path) and os.path.isfile(list_path)
    if list_path and not has_list:
        _refuse_a_near_miss(list_path)
    if has_list:
        dataset = ImageFolderDataset(ann_file=ann_file, **common)
        reason = f'the file list {list_path!r} (labels where its lines have them)'
    elif os.path.isdir(folder) and has_class_folders(folder, extensions):
        dataset = ImageFolderDataset(**common)
        reason = f'the class sub-folders of {folder!r} as classes ({no_list})'
    else:
        dataset = UnlabeledImageFolder(recursive=True, **common)
        reason = (f'every image in {folder!r} and its sub-folders, unlabeled ({no_list}; not '
                  'class folders: no sub-folders, images at the top, or a sub-folder without '
                  'images)')
    print_log(f'AutoImageFolder: {type(dataset).__name__} reading {reason}', logger='current',
              level=logging.INFO)
    return dataset


DATASETS.register_module(name='AutoImageFolder', module=auto_image_folder)
