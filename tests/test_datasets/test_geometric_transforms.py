"""Tests of RandomResizedCrop, Resize, CenterCrop and RandomFlip."""
import cv2
import numpy as np
import pytest

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


def test_full_scale_square_crop_equals_plain_resize():
    img = _image(40, 40)
    out = RandomResizedCrop(16, scale=(1, 1), ratio=(1, 1), interpolation='bicubic')(
        dict(img=img))['img']
    # shrinking: area averaging (anti-aliased, like PIL), not the plain cubic kernel
    np.testing.assert_array_equal(out, cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA))


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
