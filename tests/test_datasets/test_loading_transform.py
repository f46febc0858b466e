"""Tests of LoadImageFromFile."""
import glob
import os
import os.path as osp
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from mmmoco.datasets.transforms import ImageDecodeError, LoadImageFromFile
from mmmoco.datasets.transforms.loading import image_size


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


def _png_bomb(path, side=20000):
    """A valid 1-bit grayscale PNG of side x side black pixels in about 50 KB (OpenCV would
    decode it to side * side * 3 bytes: 1.2 GB for 20000): one deflate block of 1000 zero rows
    ends in a full flush, so the same bytes repeat; the checksum covers all the rows."""
    rows = bytes(1 + (side + 7) // 8) * 1000  # filter byte + packed bits, per row
    compressor = zlib.compressobj(9)
    first = compressor.compress(rows) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-4]  # the final empty block, without the one-block checksum
    checksum = 1
    for _ in range(side // 1000):
        checksum = zlib.adler32(rows, checksum)
    idat = first + first[2:] * (side // 1000 - 1) + end + struct.pack('>I', checksum)

    def chunk(tag, body):
        return struct.pack('>I', len(body)) + tag + body + struct.pack('>I', zlib.crc32(tag + body))
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 1, 0,
                                                                       0, 0, 0))
                     + chunk(b'IDAT', idat) + chunk(b'IEND', b''))
    return str(path)


def test_a_png_declaring_too_many_pixels_is_refused_before_decoding(tmp_path):
    path = _png_bomb(tmp_path / 'bomb.png')
    assert os.path.getsize(path) < 100_000
    start = time.perf_counter()
    with pytest.raises(ImageDecodeError, match='20000x20000 = 400000000 pixels is more than '
                                               'the limit of 89478485') as info:
        LoadImageFromFile()(dict(img_path=path))
    assert time.perf_counter() - start < 0.5  # OpenCV takes many seconds and 1.2 GB
    assert path in str(info.value) and 'MMMOCO_MAX_IMAGE_PIXELS' in str(info.value)
    small = _png_bomb(tmp_path / 'small.png', side=2000)  # the same construction decodes
    np.testing.assert_array_equal(LoadImageFromFile()(dict(img_path=small))['img'],
                                  np.zeros((2000, 2000, 3), np.uint8))


def test_pixel_limit_from_the_argument_or_the_environment(tmp_path, monkeypatch,
                                                          sample_imagenet):
    png, tga = str(tmp_path / 'img.png'), str(tmp_path / 'img.tga')
    for path in (png, tga):  # PNG: parsed header; TGA: Pillow's header
        Image.fromarray(_rgb_image()).save(path)
        with pytest.raises(ImageDecodeError, match='4x6|6x4'):
            LoadImageFromFile(max_pixels=23)(dict(img_path=path))
        assert LoadImageFromFile(max_pixels=24)(dict(img_path=path))['img'].shape == (4, 6, 3)
    monkeypatch.setenv('MMMOCO_MAX_IMAGE_PIXELS', '23')
    with pytest.raises(ImageDecodeError, match='limit of 23'):
        LoadImageFromFile()(dict(img_path=png))
    assert LoadImageFromFile(max_pixels=0)(dict(img_path=png))['img'].shape == (4, 6, 3)
    monkeypatch.setenv('MMMOCO_MAX_IMAGE_PIXELS', '0')
    assert LoadImageFromFile()(dict(img_path=png))['img'].shape == (4, 6, 3)
    monkeypatch.setenv('MMMOCO_MAX_IMAGE_PIXELS', 'lots')
    with pytest.raises(ValueError, match="MMMOCO_MAX_IMAGE_PIXELS='lots'"):
        LoadImageFromFile()
    with pytest.raises(ValueError, match='max_pixels=-1'):
        LoadImageFromFile(max_pixels=-1)


def test_jpeg_headers_give_the_decoded_size(tmp_path, sample_imagenet):
    files = sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*.jpg')))
    img = cv2.imread(files[0])[:300, :200]
    Image.fromarray(img).save(tmp_path / 'progressive.jpg', progressive=True)
    Image.fromarray(img).save(tmp_path / 'exif.jpg', exif=Image.Exif())
    for path in files + [str(tmp_path / 'progressive.jpg'), str(tmp_path / 'exif.jpg')]:
        with open(path, 'rb') as file:
            data = file.read()
        height, width = cv2.imread(path).shape[:2]
        assert image_size(data, path) == (width, height), path
        with pytest.raises(ImageDecodeError, match='more than the limit'):
            LoadImageFromFile(max_pixels=width * height - 1)(dict(img_path=path))
    assert image_size(b'not an image', 'x') is None


def test_direct_rgb_decoding_equals_the_channel_swap(monkeypatch, sample_imagenet, tmp_path):
    """OpenCV >= 4.11 decodes straight to RGB; older ones decode BGR and swap: same pixels."""
    from mmmoco.datasets.transforms import loading
    png = str(tmp_path / 'img.png')
    Image.fromarray(_rgb_image()).save(png)
    paths = [png, sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*.jpg')))[0]]
    direct = [LoadImageFromFile()(dict(img_path=path))['img'] for path in paths]
    monkeypatch.setattr(loading, '_IMREAD_RGB', None)
    for path, img in zip(paths, direct):
        np.testing.assert_array_equal(LoadImageFromFile()(dict(img_path=path))['img'], img)
        np.testing.assert_array_equal(LoadImageFromFile(to_rgb=False)(dict(img_path=path))['img'],
                                      img[..., ::-1])


def test_an_image_over_the_limit_is_skipped_as_unreadable(tmp_path, warnings_logged):
    from mmmoco.datasets import UnlabeledImageFolder
    Image.fromarray(_rgb_image()).save(tmp_path / 'a_small.png')
    _png_bomb(tmp_path / 'b_bomb.png', side=2000)
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), skip_unreadable=True,
                                   pipeline=[dict(type='LoadImageFromFile', max_pixels=10**6)])
    assert dataset[1]['img_path'].endswith('a_small.png')  # the bomb replaced, not decoded
    assert any('b_bomb.png' in message and 'more than the limit' in message
               for message in warnings_logged)
