"""The shared image operations: independent references (colorsys, torchvision, OpenCV), and the
same result for uint8 and float, one image and a batch, the CPU fast path and the convolution."""
import colorsys

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from mmmoco.utils import image_ops


def _images(count=4, height=12, width=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, height, width), dtype=torch.uint8,
                         generator=generator)


def test_hue_rotation_matches_colorsys():
    x = _images(count=1)[0]
    for shift in (-0.5, -0.23, 0.07, 0.5):
        out = image_ops.adjust_hue(x, shift)
        expected = torch.empty_like(out)
        for row in range(x.shape[1]):
            for col in range(x.shape[2]):
                hue, sat, val = colorsys.rgb_to_hsv(*(x[:, row, col].double() / 255).tolist())
                rgb = colorsys.hsv_to_rgb((hue + shift) % 1, sat, val)
                expected[:, row, col] = torch.tensor([round(c * 255) for c in rgb])
        assert (out.int() - expected.int()).abs().max() <= 1  # exact up to rounding ties


@pytest.mark.parametrize('name', ['brightness', 'contrast', 'saturation'])
def test_blends_match_torchvision(name):
    x = _images()
    for factor in (0.0, 0.6, 1.0, 1.4):
        out = getattr(image_ops, f'adjust_{name}')(x, factor)
        # torchvision on float images in [0, 1] (its uint8 path truncates instead of rounding;
        # its contrast mean and saturation grey are unrounded luma)
        expected = getattr(TF, f'adjust_{name}')(x.float() / 255, factor) * 255
        assert (out.float() - expected).abs().max() <= 1, factor
        if factor == 1.0:
            assert torch.equal(out, x)


def test_uint8_float_single_image_and_batch_agree():
    x = _images()
    params = torch.tensor([0.7, 1.0, 1.3, 0.9])
    shifts = torch.tensor([-0.4, 0.0, 0.1, 0.5])
    ops = [(image_ops.adjust_brightness, params), (image_ops.adjust_contrast, params),
           (image_ops.adjust_saturation, params), (image_ops.adjust_hue, shifts)]
    for op, values in ops:
        batch = op(x, values)
        assert batch.dtype == torch.uint8 and torch.equal(op(x.float(), values), batch.float())
        for index, value in enumerate(values.tolist()):
            assert torch.equal(op(x[index], value), batch[index]), op.__name__
    assert torch.equal(image_ops.grayscale(x).float(), image_ops.grayscale(x.float()))
    assert torch.equal(image_ops.solarize(x, 128).float(), image_ops.solarize(x.float(), 128))


def test_blur_fast_path_matches_the_convolution_and_opencv():
    x = _images(height=24, width=20)
    sigma = torch.tensor([0.3, 0.9, 1.6, 2.0])
    fast = image_ops.gaussian_blur(x, sigma, 2.0)  # CPU uint8: OpenCV
    convolved = image_ops.gaussian_blur(x.float(), sigma, 2.0)  # float: depthwise convolutions
    assert fast.dtype == torch.uint8 and (fast.float() - convolved).abs().max() <= 1
    for image, s, blurred in zip(x, sigma.tolist(), fast):
        size = 2 * image_ops.max_radius(s) + 1
        expected = cv2.GaussianBlur(image.permute(1, 2, 0).numpy().copy(), (size, size), s)
        assert np.abs(blurred.permute(1, 2, 0).numpy().astype(int) - expected).max() <= 1
    assert torch.equal(image_ops.gaussian_blur(x[0], sigma[:1], 0.3), fast[0])
    fixed = image_ops.gaussian_blur(x, sigma, 2.0, kernel_size=5)
    assert (fixed.float() - image_ops.gaussian_blur(x.float(), sigma, 2.0, 5)).abs().max() <= 1
    with pytest.raises(ValueError, match='sigma must have shape'):
        image_ops.gaussian_blur(x, sigma[:2], 2.0)


def test_gaussian_kernels_match_opencv_within_their_own_radius():
    kernels = image_ops.gaussian_kernels(torch.tensor([0.5, 1.0], dtype=torch.float64), 3)
    # sigma 0.5 spans ceil(1.5) = 2 taps either side, zero-padded to the common radius 3
    np.testing.assert_allclose(kernels[0].numpy(),
                               np.pad(cv2.getGaussianKernel(5, 0.5)[:, 0], 1), atol=1e-12)
    np.testing.assert_allclose(kernels[1].numpy(), cv2.getGaussianKernel(7, 1.0)[:, 0],
                               atol=1e-12)


def _every_level_image() -> np.ndarray:
    """All 256 grey levels in each of the three channels, (16, 16, 3) uint8."""
    return np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)


def test_hwc_brightness_equals_blend_on_every_level():
    """OpenCV's float32 scaling gives blend's grey levels for every level and factor, ties
    (factors 0.5, 1.5) included."""
    levels = torch.arange(256, dtype=torch.float32)
    factors = np.concatenate([np.random.default_rng(0).uniform(0, 2, 3000),
                              [0., 0.5, 1., 1.5, 0.6, 1.4]])
    for factor in factors:
        expected = image_ops.blend(levels, 0., float(factor)).to(torch.uint8).numpy()
        got = image_ops.hwc_adjust_brightness(_every_level_image(), float(factor))
        np.testing.assert_array_equal(got.reshape(-1, 3), expected[:, None].repeat(3, 1),
                                      err_msg=f'factor {factor!r}')


def test_blend_table_equals_blend_on_every_level():
    """The NumPy lookup table of the contrast blend equals blend's tensor arithmetic."""
    rng = np.random.default_rng(1)
    levels = torch.arange(256, dtype=torch.float32)
    for factor, level in zip(rng.uniform(0, 2, 3000), rng.uniform(0, 255, 3000)):
        level = torch.tensor(level, dtype=torch.float32)
        expected = image_ops.blend(levels, level, float(factor)).to(torch.uint8).numpy()
        np.testing.assert_array_equal(image_ops._blend_table(level.item(), float(factor)),
                                      expected, err_msg=f'factor {factor!r}, level {level}')


@pytest.mark.parametrize('size', [(1, 1), (7, 13), (224, 224), (256, 256)])
def test_hwc_mean_level_equals_the_tensor_mean(size):
    grey = np.random.default_rng(2).integers(0, 256, size, dtype=np.uint8)
    expected = image_ops.mean_level(torch.from_numpy(grey)[None]).reshape(())
    assert image_ops._hwc_mean_level(grey) == expected.item()


def test_hwc_solarize_equals_the_tensor_op():
    img = _every_level_image()
    for threshold in (0, 1, 128, 200.5, 255, 256):
        expected = np.where(img >= threshold, 255 - img, img)
        for dtype in (torch.uint8, torch.float32):  # 256 must not wrap to 0 in uint8
            tensor = image_ops.solarize(torch.from_numpy(img).to(dtype), threshold)
            np.testing.assert_array_equal(tensor.numpy().astype(np.uint8), expected)
        np.testing.assert_array_equal(image_ops.hwc_solarize(img, threshold), expected)
    assert (image_ops.hwc_solarize(img, 256) == img).all()
