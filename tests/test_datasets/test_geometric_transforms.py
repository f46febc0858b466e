"""Tests of RandomResizedCrop, Resize, CenterCrop and RandomFlip."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from mmmoco.datasets.transforms import CenterCrop, RandomFlip, RandomResizedCrop, Resize


def _image(height, width):
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_random_resized_crop_output_size_and_box_bounds():
    np.random.seed(0)
    crop = RandomResizedCrop(size=(24, 32), scale=(0.2, 1.0))
    for _ in range(20):
        results = crop(dict(img=_image(50, 70)))
        assert results['img'].shape == (24, 32, 3) and results['img'].dtype == np.uint8
        assert results['img'].flags['C_CONTIGUOUS'] and results['img_shape'] == (24, 32)
        top, left, height, width = crop.crop_box(50, 70)
        assert 0 <= top and top + height <= 50 and 0 <= left and left + width <= 70
        assert 0.2 * 3500 * 0.85 <= height * width <= 3500  # area in scale, up to rounding
        assert 3 / 4 * 0.9 <= width / height <= 4 / 3 * 1.1


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic'])
def test_full_scale_square_crop_equals_pils_resize(interpolation):
    img = _image(40, 40)
    out = RandomResizedCrop(16, scale=(1, 1), ratio=(1, 1), interpolation=interpolation)(
        dict(img=img))['img']
    # shrinking: PIL's antialiased filter (torchvision's classic transforms), not the plain kernel
    mode = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}[interpolation]
    expected = np.asarray(Image.fromarray(img).resize((16, 16), mode))
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert np.abs(out.astype(int) - cv2.resize(img, (16, 16))).max() > 10  # unfiltered differs


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic'])
def test_crops_of_real_photos_equal_torchvisions_pil_resized_crop(sample_imagenet,
                                                                  interpolation):
    """The crop is resized from a view of the read-only decoded image (as MultiView shares it)
    to torchvision's PIL result up to rounding: PIL and torch round their fixed-point sums
    differently, by one grey level in a few % of the values (2% at 224 px)."""
    import torchvision.transforms.functional as TF
    mode = TF.InterpolationMode(interpolation)
    crop = RandomResizedCrop(112, scale=(0.2, 1.0), interpolation=interpolation)
    differences = []
    for index, path in enumerate(sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*')))
                                 [:6]):
        img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        img.flags.writeable = False
        np.random.seed(index)
        top, left, height, width = crop.crop_box(*img.shape[:2])
        np.random.seed(index)
        out = crop(dict(img=img))['img']
        expected = np.asarray(TF.resized_crop(Image.fromarray(img), top, left, height, width,
                                              [112, 112], mode))
        differences.append(np.abs(out.astype(int) - expected).ravel())
    differences = np.concatenate(differences)
    assert differences.max() <= 1 and (differences > 0).mean() < 0.05


def test_shrinking_anti_aliases_a_checkerboard():
    board = ((np.indices((96, 96)).sum(0) % 2) * 255).astype(np.uint8)
    img = np.repeat(board[..., None], 3, axis=2)
    out = RandomResizedCrop(32, scale=(1, 1), ratio=(1, 1))(dict(img=img))['img']
    # a 1-px checkerboard shrunk 3x is mid-grey everywhere when filtered properly
    assert np.abs(out.astype(int) - 127).max() <= 45


def test_fallback_is_central_crop_with_clamped_ratio():
    # A 10x100 strip cannot hold any crop of ratio <= 4/3 with area >= 20%: fallback.
    assert RandomResizedCrop(8).crop_box(10, 100) == (0, 43, 10, 13)


@pytest.mark.parametrize('kwargs, culprit', [(dict(size=0), 'size'),
                                             (dict(size=8, scale=(0.5, 0.2)), 'scale'),
                                             (dict(size=8, interpolation='lanczos'),
                                              'interpolation')])
def test_random_resized_crop_rejects_bad_arguments(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        RandomResizedCrop(**kwargs)


def test_resize_shorter_side_and_exact():
    assert Resize(20)(dict(img=_image(40, 60)))['img'].shape == (20, 30, 3)
    assert Resize(20)(dict(img=_image(61, 40)))['img'].shape == (30, 20, 3)
    results = Resize((7, 9))(dict(img=_image(40, 60)))
    assert results['img'].shape == (7, 9, 3) and results['img_shape'] == (7, 9)


def test_center_crop_takes_the_middle():
    img = _image(10, 12)
    np.testing.assert_array_equal(CenterCrop((4, 6))(dict(img=img))['img'], img[3:7, 3:9])
    with pytest.raises(ValueError, match='larger than the image'):
        CenterCrop(20)(dict(img=img, img_path='x.jpg'))


def test_random_flip_probability_and_direction():
    img = _image(5, 6)
    np.testing.assert_array_equal(RandomFlip(prob=1)(dict(img=img))['img'], img[:, ::-1])
    np.testing.assert_array_equal(
        RandomFlip(prob=1, direction='vertical')(dict(img=img))['img'], img[::-1])
    np.testing.assert_array_equal(RandomFlip(prob=0)(dict(img=img))['img'], img)
    with pytest.raises(ValueError, match='direction'):
        RandomFlip(direction='diagonal')
    assert repr(RandomFlip()) == "RandomFlip(prob=0.5, direction='horizontal')"
