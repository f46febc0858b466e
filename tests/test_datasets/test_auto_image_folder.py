"""Issue 20, item 2: ``AutoImageFolder`` (the pretraining recipes' dataset) picks the reading
from what is on disk, on the 20 real ImageNet JPEGs: a file list when it exists, class folders,
else every image unlabeled (flat, nested, or next to a folder without images), and says which
in one INFO line."""
import glob
import logging
import os
import os.path as osp
import shutil
from typing import Iterator, List

import pytest
from mmengine.logging import MMLogger

from mmmoco.registry import DATASETS


@pytest.fixture
def info_logged() -> Iterator[List[str]]:
    """The messages of the INFO (and higher) records of mmengine's current logger."""
    logger = MMLogger.get_current_instance()
    records: List[str] = []
    handler = logging.Handler(level=logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(previous)


def build(data_root: str, data_prefix: str = '', ann_file: str = 'meta/train.txt'):
    """The dataset of a pretraining recipe's loader config, with the given root."""
    return DATASETS.build(dict(type='AutoImageFolder', data_root=data_root,
                               data_prefix=data_prefix, ann_file=ann_file, pipeline=[]))


def labels(dataset) -> List[int]:
    """The label of every sample (-1: unlabeled)."""
    return [dataset.get_data_info(index)['gt_label'] for index in range(len(dataset))]


def choice(records: List[str]) -> str:
    """The one AutoImageFolder line among the log records."""
    [line] = [record for record in records if record.startswith('AutoImageFolder: ')]
    return line


def test_file_list_when_it_exists(sample_imagenet, info_logged):
    dataset = build(sample_imagenet, 'train')
    assert type(dataset).__name__ == 'ImageFolderDataset' and len(dataset) == 20
    assert min(labels(dataset)) >= 0
    list_path = osp.join(sample_imagenet, 'meta', 'train.txt')
    assert choice(info_logged) == (f'AutoImageFolder: ImageFolderDataset reading the file list '
                                   f"'{list_path}' (labels where its lines have them)")


def test_class_folders_without_a_list(sample_imagenet, info_logged):
    dataset = build(sample_imagenet, 'train', ann_file='meta/absent.txt')
    assert type(dataset).__name__ == 'ImageFolderDataset' and len(dataset) == 20
    assert len(dataset.metainfo['classes']) == 19
    assert 'reading the class sub-folders of' in choice(info_logged)
    assert "no file list at '" in choice(info_logged)


def test_flat_folder_is_unlabeled(sample_imagenet, tmp_path, info_logged):
    for path in glob.glob(osp.join(sample_imagenet, 'train', '*', '*.jpg')):
        shutil.copy(path, tmp_path)
    dataset = build(str(tmp_path))
    assert type(dataset).__name__ == 'UnlabeledImageFolder' and len(dataset) == 20
    assert set(labels(dataset)) == {-1}
    assert choice(info_logged).startswith(
        f"AutoImageFolder: UnlabeledImageFolder reading every image in '{tmp_path}")


@pytest.mark.parametrize('layout', ['images at the top and in a sub-folder',
                                    'a sub-folder without images'])
def test_nested_folders_without_classes_are_unlabeled(layout, sample_imagenet, tmp_path):
    """The sample's root is itself such a folder: ``train/`` holds the images, ``meta/`` none."""
    if layout == 'a sub-folder without images':
        root = sample_imagenet
    else:
        root = str(tmp_path)
        paths = sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*.jpg')))
        os.makedirs(tmp_path / '2024' / 'june')
        for index, path in enumerate(paths):
            shutil.copy(path, tmp_path if index < 5 else tmp_path / '2024' / 'june')
    dataset = build(root, ann_file='')
    assert type(dataset).__name__ == 'UnlabeledImageFolder' and len(dataset) == 20


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        build(str(tmp_path / 'nowhere'))


def test_mistyped_file_list_is_refused_not_replaced_by_a_scan(sample_imagenet):
    """meta/trian.txt next to meta/train.txt: a typo, so an error naming both, not a silent
    switch to reading the class folders."""
    with pytest.raises(FileNotFoundError, match=r"ann_file '.*meta/trian\.txt' does not exist, "
                                                r"but '.*meta/train\.txt' does"):
        build(sample_imagenet, 'train', ann_file='meta/trian.txt')
    assert len(build(sample_imagenet, 'train', ann_file='')) == 20  # the way to opt out
