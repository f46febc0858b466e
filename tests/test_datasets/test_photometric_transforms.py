"""Tests of the colour functions, ColorJitter, RandomGrayscale and GaussianBlur."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmmoco.datasets.transforms import ColorJitter, GaussianBlur, RandomGrayscale
from mmmoco.utils import image_ops


def _on_hwc(op):
    """The image_ops operation ``op`` on an HWC uint8 array, as the per-image transforms call it."""
    def run(img, param):
        return op(torch.from_numpy(img).permute(2, 0, 1), param).permute(1, 2, 0).numpy()
    return run


adjust_contrast, adjust_hue, adjust_saturation = map(
    _on_hwc, (image_ops.adjust_contrast, image_ops.adjust_hue, image_ops.adjust_saturation))


def _image(height=16, width=16):
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _luma(img):
    return img.astype(float) @ np.array([0.299, 0.587, 0.114])


def test_color_jitter_with_all_zeros_is_identity():
    img = _image()
    np.testing.assert_array_equal(ColorJitter()(dict(img=img))['img'], img)


def test_color_jitter_with_prob_zero_is_identity():
    img = _image()
    out = ColorJitter(0.4, 0.4, 0.4, 0.1, prob=0)(dict(img=img))['img']
    np.testing.assert_array_equal(out, img)


def test_brightness_factor_matches_direct_computation():
    img = _image()
    np.random.seed(3)
    out = ColorJitter(brightness=0.4)(dict(img=img))['img']
    np.random.seed(3)
    np.random.rand()  # the prob draw
    np.random.permutation(4)  # the order draw
    factor = np.random.uniform(0.6, 1.4)
    expected = np.clip(np.rint(np.arange(256) * factor), 0, 255).astype(np.uint8)[img]
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, img)


def test_contrast_and_saturation_endpoints():
    img = _image()
    flat = adjust_contrast(img, 0.0)
    mean_gray = np.rint(_luma(img)).mean()
    assert np.all(np.abs(flat.astype(int) - mean_gray) <= 0.5)
    gray = adjust_saturation(img, 0.0)
    assert np.all(gray[..., 0] == gray[..., 1]) and np.all(gray[..., 1] == gray[..., 2])
    assert np.abs(gray[..., 0] - _luma(img)).max() <= 1
    np.testing.assert_array_equal(adjust_saturation(img, 1.0), img)


def test_hue_shift_rotates_colours():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    np.testing.assert_array_equal(adjust_hue(red, 0.5)[0, 0], [0, 255, 255])
    np.testing.assert_array_equal(adjust_hue(red, 1 / 3)[0, 0], [0, 255, 0])
    np.testing.assert_array_equal(adjust_hue(red, -1 / 3)[0, 0], [0, 0, 255])


@pytest.fixture(scope='module')
def photos(sample_imagenet):
    """Eight real ImageNet photos at 96x96 and a 64x64 image of random colours, RGB uint8."""
    files = sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*')))[:8]
    return [cv2.resize(cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB), (96, 96),
                       interpolation=cv2.INTER_AREA) for f in files] + [_image(64, 64)]


def _tensor_op(name, img, param):
    return getattr(image_ops, f'adjust_{name}')(torch.from_numpy(img.copy()).permute(2, 0, 1),
                                                 param).permute(1, 2, 0).numpy()


@pytest.mark.parametrize('name, params', [
    ('brightness', (0.0, 0.6, 1.0, 1.37)), ('contrast', (0.0, 0.6, 1.0, 1.37)),
    ('saturation', (0.0, 0.6, 1.0, 1.37)),
    # negative shifts and both ends: OpenCV's HSV conversion does not wrap negative hues
    ('hue', (-0.5, -0.31, -0.07, -1e-9, 0.0, 0.04, 0.23, 0.5))])
def test_hwc_colour_ops_equal_the_tensor_ops(photos, name, params):
    """The per-image transforms' lookup-table/OpenCV versions give the tensor formulas' grey
    levels: brightness exactly, the others up to one level at rounding ties (rare)."""
    differences = []
    for img in photos:
        img.flags.writeable = False  # as MultiView's shared decoded image
        for param in params:
            fast = getattr(image_ops, f'hwc_adjust_{name}')(img, param)
            assert fast.shape == img.shape and fast.dtype == np.uint8
            differences.append(np.abs(fast.astype(int) - _tensor_op(name, img, param)).ravel())
    differences = np.concatenate(differences)
    assert differences.max() <= (0 if name == 'brightness' else 1)
    assert (differences > 0).mean() < 1e-3
    gray = image_ops.hwc_grayscale(photos[0])
    reference = image_ops.grayscale(torch.from_numpy(photos[0]).permute(2, 0, 1))
    assert np.abs(gray.astype(int) - reference.permute(1, 2, 0).numpy()).max() <= 1


def test_color_jitter_equals_the_chain_of_tensor_ops(photos):
    """ColorJitter's uint8 chain with its own draws against the tensor ops in the same order."""
    jitter = ColorJitter(0.4, 0.4, 0.4, 0.1)
    names = ('brightness', 'contrast', 'saturation', 'hue')
    differences = []
    for seed, img in enumerate(photos * 4):
        np.random.seed(seed)
        out = jitter(dict(img=img))['img']
        np.random.seed(seed)
        np.random.rand()
        order = np.random.permutation(4)
        params = [f for _, f in jitter.sample_adjustments()]
        expected = img
        for index in order:
            expected = _tensor_op(names[index], expected, params[index])
        differences.append(np.abs(out.astype(int) - expected).ravel())
    differences = np.concatenate(differences)
    # a one-level tie difference early in the chain can grow through the later factors (up to
    # 4 levels in 200 chains on 224-px photos), rarely
    assert differences.max() <= 4 and (differences > 0).mean() < 1e-3
    assert (differences > 1).mean() < 1e-4


@pytest.mark.parametrize('kwargs, culprit', [(dict(hue=0.6), 'hue'),
                                             (dict(brightness=-0.1), 'brightness'),
                                             (dict(prob=1.5), 'prob')])
def test_color_jitter_rejects_bad_arguments(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        ColorJitter(**kwargs)


def test_random_grayscale_gives_equal_luma_channels():
    img = _image()
    out = RandomGrayscale(prob=1)(dict(img=img))['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2])
    assert np.abs(out[..., 0] - _luma(img)).max() <= 1
    np.testing.assert_array_equal(RandomGrayscale(prob=0)(dict(img=img))['img'], img)


def test_gaussian_blur_smooths_noise_and_prob_zero_is_identity():
    img = _image(32, 32)
    np.random.seed(0)
    blurred = GaussianBlur(sigma=(1.0, 2.0), prob=1)(dict(img=img))['img']
    assert blurred.shape == img.shape and blurred.dtype == np.uint8
    assert blurred.astype(float).var() < 0.5 * img.astype(float).var()
    np.testing.assert_array_equal(GaussianBlur(prob=0)(dict(img=img))['img'], img)
    with pytest.raises(ValueError, match='kernel_size'):
        GaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match='sigma'):
        GaussianBlur(sigma=(0.0, 1.0))
