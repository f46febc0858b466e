"""Solarize: PIL's ImageOps.solarize on uint8 images, with a probability."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image, ImageOps

from mmmoco.datasets.transforms import LoadImageFromFile, Solarize


def _first_sample(root: str) -> str:
    folder = osp.join(root, 'train')
    class_dir = osp.join(folder, sorted(os.listdir(folder))[0])
    return osp.join(class_dir, sorted(os.listdir(class_dir))[0])


def test_solarize_matches_pil_on_a_real_image(sample_imagenet):
    results = LoadImageFromFile()(dict(img_path=_first_sample(sample_imagenet)))
    img = results['img']
    for threshold in (0, 128, 200):
        out = Solarize(threshold=threshold, prob=1.0)(dict(img=img.copy()))['img']
        expected = np.asarray(ImageOps.solarize(Image.fromarray(img), threshold=threshold))
        assert out.dtype == np.uint8 and out.shape == img.shape
        np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(Solarize(prob=1.0)(dict(img=img.copy()))['img'], img)


def test_solarize_every_value_at_threshold_128():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    out = Solarize(prob=1.0)(dict(img=values))['img'][..., 0].ravel()
    np.testing.assert_array_equal(out[:128], np.arange(128))
    np.testing.assert_array_equal(out[128:], 255 - np.arange(128, 256))


def test_solarize_probability():
    img = np.full((4, 4, 3), 200, np.uint8)
    np.testing.assert_array_equal(Solarize(prob=0.0)(dict(img=img))['img'], img)
    np.random.seed(0)
    solarized = sum(int(Solarize(prob=0.2)(dict(img=img))['img'][0, 0, 0] == 55)
                    for _ in range(2000))
    assert 300 < solarized < 500


@pytest.mark.parametrize('kwargs, culprit', [(dict(threshold=300), 'threshold'),
                                             (dict(threshold=1.5), 'threshold'),
                                             (dict(prob=-0.1), 'prob')])
def test_solarize_rejects_bad_arguments(kwargs, culprit):
    with pytest.raises(ValueError, match=f'Solarize: {culprit}'):
        Solarize(**kwargs)


def test_solarize_refuses_float_images():
    with pytest.raises(TypeError, match='Solarize: expected a uint8 image, got float32'):
        Solarize(prob=1.0)(dict(img=np.zeros((2, 2, 3), np.float32)))
