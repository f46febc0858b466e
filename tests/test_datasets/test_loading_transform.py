"""Tests of LoadImageFromFile."""
import cv2
import numpy as np
import pytest
from PIL import Image

from mmmoco.datasets.transforms import ImageDecodeError, LoadImageFromFile


def _rgb_image():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # red channel
    rgb[:, :3, 2] = 50  # some blue on the left half
    return rgb


def test_png_is_loaded_as_rgb(tmp_path):
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, cv2.cvtColor(_rgb_image(), cv2.COLOR_RGB2BGR))
    results = LoadImageFromFile()(dict(img_path=path))
    np.testing.assert_array_equal(results['img'], _rgb_image())
    assert results['img_shape'] == (4, 6) and results['ori_shape'] == (4, 6)
    assert results['img'].flags['C_CONTIGUOUS']
    bgr = LoadImageFromFile(to_rgb=False)(dict(img_path=path))['img']
    np.testing.assert_array_equal(bgr, _rgb_image()[..., ::-1])


def test_grayscale_and_rgba_become_three_channels(tmp_path):
    Image.fromarray(np.full((3, 5), 77, np.uint8)).save(tmp_path / 'gray.png')
    rgba = np.dstack([_rgb_image(), np.full((4, 6), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / 'rgba.png')
    gray = LoadImageFromFile()(dict(img_path=str(tmp_path / 'gray.png')))['img']
    np.testing.assert_array_equal(gray, np.full((3, 5, 3), 77, np.uint8))
    color = LoadImageFromFile()(dict(img_path=str(tmp_path / 'rgba.png')))['img']
    np.testing.assert_array_equal(color, _rgb_image())


def test_pillow_fallback_reads_tga(tmp_path):
    path = str(tmp_path / 'img.tga')  # OpenCV cannot decode TGA, Pillow can
    Image.fromarray(_rgb_image()).save(path)
    assert cv2.imread(path) is None
    np.testing.assert_array_equal(LoadImageFromFile()(dict(img_path=path))['img'], _rgb_image())


@pytest.mark.parametrize('content, reason', [(None, 'No such file'), (b'', 'empty'),
                                             (b'not an image', 'neither OpenCV nor Pillow')])
def test_unreadable_files_raise_with_path_and_reason(tmp_path, content, reason):
    path = tmp_path / 'broken.jpg'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=reason) as info:
        LoadImageFromFile()(dict(img_path=str(path)))
    assert str(path) in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
