"""Issue 9, item 7: the dataset walk does not follow symlink loops, and unreadable images are
either named (default) or skipped deterministically (``skip_unreadable=True``).

The data are 40 real Fashion-MNIST images (4 per class) written as class folders, the layout
in which a ``train/Bag/loop -> ..`` link turned 40 images into 1640 samples.
"""
import os
import os.path as osp
import random
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from mmmoco.datasets import ImageDecodeError, ImageFolderDataset, UnlabeledImageFolder
from mmmoco.datasets.sources.fashion_mnist import CLASSES, find_fashion_mnist, load_split
from mmmoco.registry import DATASETS

PER_CLASS = 4
BAG = CLASSES.index('Bag')


@pytest.fixture(scope='module')
def fashion40(tmp_path_factory) -> str:
    """``train/<class>/*.png``: the first 4 test-split images of each Fashion-MNIST class."""
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    from prepare_fashion_mnist import write_split
    root = str(tmp_path_factory.mktemp('fashion40'))
    images, labels = load_split(find_fashion_mnist(), 'test')
    assert write_split(images, labels, root, 'train', PER_CLASS) == 10 * PER_CLASS
    return root


@pytest.fixture
def looped(fashion40, tmp_path) -> str:
    """A copy of the 40-image tree (as links to the images) with ``train/Bag/loop -> ..``."""
    for name in CLASSES:
        os.makedirs(tmp_path / 'train' / name)
        for image in os.listdir(osp.join(fashion40, 'train', name)):
            os.symlink(osp.join(fashion40, 'train', name, image),
                       tmp_path / 'train' / name / image)
    os.symlink('..', tmp_path / 'train' / 'Bag' / 'loop')
    return str(tmp_path)


def test_symlink_loop_is_skipped_and_named(looped, warnings_logged):
    dataset = ImageFolderDataset(data_root=looped, data_prefix='train', serialize_data=False)
    assert len(dataset) == 10 * PER_CLASS
    labels = [info['gt_label'] for info in dataset.data_list]
    assert labels.count(BAG) == PER_CLASS
    assert all(labels.count(label) == PER_CLASS for label in range(10))
    loop = osp.join(looped, 'train', 'Bag', 'loop')
    assert any(repr(loop) in message and 'symlink loop' in message
               for message in warnings_logged), warnings_logged


def test_unlabeled_recursive_walk_skips_loops(looped, warnings_logged):
    dataset = UnlabeledImageFolder(data_root=looped, data_prefix='train', serialize_data=False)
    assert len(dataset) == 10 * PER_CLASS
    assert len({info['img_path'] for info in dataset.data_list}) == 10 * PER_CLASS
    assert any('symlink loop' in message for message in warnings_logged)


def test_link_to_a_folder_already_listed_is_skipped(fashion40, tmp_path, warnings_logged):
    """``Bag/again -> ../Bag`` would list Bag's images twice under the same class."""
    bag = tmp_path / 'train' / 'Bag'
    os.makedirs(bag)
    for image in os.listdir(osp.join(fashion40, 'train', 'Bag')):
        os.symlink(osp.join(fashion40, 'train', 'Bag', image), bag / image)
    os.makedirs(bag / 'sub')
    os.symlink('../../Bag', bag / 'sub' / 'again')
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), data_prefix='train')
    assert len(dataset) == PER_CLASS
    assert any(repr(str(bag / 'sub' / 'again')) in message for message in warnings_logged)


@pytest.fixture
def with_broken(fashion40, tmp_path) -> str:
    """The 40 images (as links) plus two unreadable files sorted between them in class 0."""
    for name in CLASSES:
        os.makedirs(tmp_path / 'train' / name)
        for image in os.listdir(osp.join(fashion40, 'train', name)):
            os.symlink(osp.join(fashion40, 'train', name, image),
                       tmp_path / 'train' / name / image)
    first = tmp_path / 'train' / CLASSES[0]
    names = sorted(os.listdir(first))
    (first / (names[0][:-4] + '_a.png')).write_bytes(b'')  # empty
    (first / (names[1][:-4] + '_b.png')).write_bytes(b'\x89PNG truncated')
    return str(tmp_path)


def _dataset(root: str, pipeline, **kwargs) -> ImageFolderDataset:
    return DATASETS.build(dict(type='ImageFolderDataset', data_root=root, data_prefix='train',
                               pipeline=pipeline, **kwargs))


def _broken_indices(dataset) -> list:
    return [index for index in range(len(dataset))
            if dataset.get_data_info(index)['img_path'].endswith(('_a.png', '_b.png'))]


def test_unreadable_image_is_named_by_default(with_broken):
    dataset = _dataset(with_broken, [dict(type='LoadImageFromFile')])
    empty, truncated = _broken_indices(dataset)
    with pytest.raises(ImageDecodeError, match=r"_a\.png'.*empty"):
        dataset[empty]
    with pytest.raises(ImageDecodeError, match=r'_b\.png'):
        dataset[truncated]


def test_skip_unreadable_uses_the_next_readable_sample(with_broken, warnings_logged):
    dataset = _dataset(with_broken, [dict(type='LoadImageFromFile')], skip_unreadable=True)
    empty, truncated = _broken_indices(dataset)
    assert dataset.skipped_count == 0
    replaced = dataset[empty]
    assert replaced['img_path'] == dataset.get_data_info(empty + 1)['img_path']
    np.testing.assert_array_equal(replaced['img'], dataset[empty + 1]['img'])
    assert dataset[truncated]['img_path'] == dataset.get_data_info(truncated + 1)['img_path']
    assert dataset.skipped_count == 2
    assert any('_a.png' in message and '1 skipped so far' in message
               for message in warnings_logged), warnings_logged
    assert any('_b.png' in message and '2 skipped so far' in message
               for message in warnings_logged), warnings_logged


def test_skip_is_deterministic_under_random_augmentation(with_broken):
    """A failed read consumes no random numbers: the replacement of a broken sample is exactly
    what the next sample gives from the same random state, so epochs, workers and resumed runs
    see the same data."""
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='MultiView', num_views=2, transforms=[
                    dict(type='RandomResizedCrop', size=16, scale=(0.2, 1.0)),
                    dict(type='RandomFlip', prob=0.5)]),
                dict(type='PackInputs')]
    dataset = _dataset(with_broken, pipeline, skip_unreadable=True)
    empty, _ = _broken_indices(dataset)

    def views(index):
        random.seed(3)
        np.random.seed(3)
        torch.manual_seed(3)
        return dataset[index]['inputs']

    for a, b in zip(views(empty), views(empty + 1)):
        assert torch.equal(a, b)


def test_skip_wraps_around_and_fails_when_nothing_is_readable(tmp_path):
    folder = tmp_path / 'train' / 'only'
    os.makedirs(folder)
    (folder / 'a.png').write_bytes(b'')
    (folder / 'b.png').write_bytes(b'junk')
    dataset = _dataset(str(tmp_path), [dict(type='LoadImageFromFile')], skip_unreadable=True)
    with pytest.raises(RuntimeError, match='none of the 2 images'):
        dataset[1]
    with pytest.raises(ValueError, match='skip_unreadable must be True or False'):
        _dataset(str(tmp_path), [], skip_unreadable='yes')
