"""Tests of ImageFolderDataset and UnlabeledImageFolder."""
import os

import cv2
import numpy as np
import pytest

from mmmoco.datasets import ImageDecodeError, ImageFolderDataset, UnlabeledImageFolder
from mmmoco.datasets.transforms import LoadImageFromFile


def _write_image(path, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def class_tree(tmp_path):
    """train/{cat,dog} with 2 and 1 images, plus a text file that is not an image."""
    _write_image(tmp_path / 'train' / 'dog' / 'd0.jpg')
    _write_image(tmp_path / 'train' / 'cat' / 'c1.png', 1)
    _write_image(tmp_path / 'train' / 'cat' / 'sub' / 'c0.JPG', 2)
    (tmp_path / 'train' / 'cat' / 'notes.txt').write_text('not an image')
    return tmp_path


def test_class_folders_give_sorted_classes_and_labels(class_tree):
    dataset = ImageFolderDataset(data_root=str(class_tree), data_prefix='train')
    assert dataset.metainfo['classes'] == ('cat', 'dog')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    root = os.path.join(str(class_tree), 'train')
    assert [info['img_path'] for info in infos] == [
        os.path.join(root, 'cat', 'c1.png'), os.path.join(root, 'cat', 'sub', 'c0.JPG'),
        os.path.join(root, 'dog', 'd0.jpg')]
    assert [info['gt_label'] for info in infos] == [0, 0, 1]
    assert [info['sample_idx'] for info in infos] == [0, 1, 2]


def test_data_prefix_dict_and_lazy_init(class_tree):
    dataset = ImageFolderDataset(data_root=str(class_tree), data_prefix=dict(img_path='train'),
                                 lazy_init=True)
    assert not dataset._fully_initialized
    assert len(dataset) == 3


def test_ann_file_parses_labels_and_unlabeled_lines(tmp_path):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'train.txt').write_text('a/x.jpg 3\n\nb/y.jpg 0\nc/z.jpg\n')
    (tmp_path / 'images').mkdir()
    dataset = ImageFolderDataset(data_root=str(tmp_path), data_prefix='images',
                                 ann_file='meta/train.txt', serialize_data=False)
    assert [(d['img_path'], d['gt_label']) for d in dataset.data_list] == [
        (os.path.join(str(tmp_path), 'images', 'a/x.jpg'), 3),
        (os.path.join(str(tmp_path), 'images', 'b/y.jpg'), 0),
        (os.path.join(str(tmp_path), 'images', 'c/z.jpg'), -1)]


@pytest.mark.parametrize('bad_line', ['a.jpg cat', 'a.jpg 1 2', 'a.jpg -1'])
def test_malformed_ann_line_names_file_and_line(tmp_path, bad_line):
    ann = tmp_path / 'train.txt'
    ann.write_text(f'ok.jpg 1\n{bad_line}\n')
    with pytest.raises(ValueError, match=r'train\.txt:2:'):
        ImageFolderDataset(data_root=str(tmp_path), ann_file='train.txt')


def test_missing_and_empty_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        ImageFolderDataset(data_root=str(tmp_path), data_prefix='nowhere')
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        ImageFolderDataset(data_root=str(tmp_path), ann_file='missing.txt')
    with pytest.raises(ValueError, match='no class sub-folders'):
        ImageFolderDataset(data_root=str(tmp_path))
    (tmp_path / 'empty_class').mkdir()
    with pytest.raises(ValueError, match='empty_class'):
        ImageFolderDataset(data_root=str(tmp_path))
    with pytest.raises(ValueError, match='data_prefix'):
        ImageFolderDataset(data_root=str(tmp_path), data_prefix=dict(img='x'))


def test_unlabeled_folder_recursive_and_flat(class_tree):
    root = str(class_tree / 'train' / 'cat')
    recursive = UnlabeledImageFolder(data_root=root)
    assert len(recursive) == 2
    assert recursive.get_data_info(1)['img_path'] == os.path.join(root, 'sub', 'c0.JPG')
    assert recursive.get_data_info(1)['gt_label'] == -1
    flat = UnlabeledImageFolder(data_root=root, recursive=False)
    assert [flat.get_data_info(i)['img_path'] for i in range(len(flat))] == [
        os.path.join(root, 'c1.png')]
    with pytest.raises(ValueError, match='no files ending'):
        UnlabeledImageFolder(data_root=root, data_prefix='sub', extensions=('.webp', ))


def test_corrupt_image_error_propagates_through_getitem(tmp_path):
    _write_image(tmp_path / 'a' / 'good.png')
    (tmp_path / 'a' / 'bad.jpg').write_bytes(b'not an image')
    dataset = ImageFolderDataset(data_root=str(tmp_path), pipeline=[LoadImageFromFile()])
    assert dataset[1]['img'].shape == (8, 10, 3)
    with pytest.raises(ImageDecodeError, match='bad.jpg'):
        dataset[0]


def test_pipeline_returning_none_raises_instead_of_refetching(tmp_path):
    _write_image(tmp_path / 'a' / 'x.png')
    dataset = ImageFolderDataset(data_root=str(tmp_path), pipeline=[lambda results: None])
    with pytest.raises(RuntimeError, match='x.png'):
        dataset[0]
