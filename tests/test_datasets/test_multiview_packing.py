"""Tests of MultiView and PackInputs."""
import numpy as np
import pytest
import torch

from mmmoco.datasets.transforms import MultiView, PackInputs, RandomFlip
from mmmoco.structures.data_sample import DataSample


def _image(height=20, width=24):
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_shared_pipeline_gives_independent_views():
    np.random.seed(0)
    img = _image()
    view_maker = MultiView(num_views=2, transforms=[dict(type='RandomResizedCrop', size=8)])
    results = view_maker(dict(img=img, img_path='a.jpg'))
    first, second = results['img']
    assert first.shape == second.shape == (8, 8, 3)
    assert not np.array_equal(first, second)
    assert results['img_shape'] == [(8, 8), (8, 8)]
    assert results['img_path'] == 'a.jpg'


def test_view_groups_use_their_own_pipeline_in_order():
    img = _image()
    view_maker = MultiView(num_views=[1, 2],
                           transforms=[[dict(type='Resize', size=(4, 5))],
                                       [RandomFlip(prob=1), dict(type='CenterCrop', size=6)]])
    views = view_maker(dict(img=img))['img']
    assert [view.shape for view in views] == [(4, 5, 3), (6, 6, 3), (6, 6, 3)]
    np.testing.assert_array_equal(views[1], img[7:13, 9:15][:, ::-1])
    np.testing.assert_array_equal(views[1], views[2])


def test_views_share_the_decoded_image_read_only_without_copying_it():
    img = _image()
    original = img.copy()
    seen = []

    def record(results):
        seen.append(results['img'])
        return results

    views = MultiView(num_views=2, transforms=[record])(dict(img=img))['img']
    # no per-view copy of the decoded image: every view pipeline starts from the same array
    assert all(view is img for view in seen + views)

    def scribble(results):
        results['img'][...] = 0
        return results

    with pytest.raises(ValueError, match='read-only'):
        MultiView(num_views=2, transforms=[scribble])(dict(img=_image()))
    np.testing.assert_array_equal(img, original)


def test_view_metadata_changes_stay_in_their_view():
    def tag(results):
        results['tag'] = len(results.get('tags', []))
        results['img_shape'] = (1, 1)
        return results

    results = MultiView(num_views=2, transforms=[tag])(dict(img=_image(), img_shape=(20, 24)))
    assert 'tag' not in results and results['img_shape'] == [(20, 24), (20, 24)]


@pytest.mark.parametrize('num_views, transforms, culprit', [
    (0, [], 'positive int'),
    ([1, 1], [[]], 'groups'),
    (2, [[dict(type='RandomFlip')]], 'list of lists'),
])
def test_multiview_rejects_inconsistent_arguments(num_views, transforms, culprit):
    with pytest.raises(ValueError, match=culprit):
        MultiView(num_views=num_views, transforms=transforms)


def test_pack_single_image():
    img = _image()
    packed = PackInputs()(dict(img=img, img_path='a.jpg', sample_idx=4, gt_label=2))
    assert packed['inputs'].dtype == torch.uint8
    assert packed['inputs'].shape == (3, 20, 24) and packed['inputs'].is_contiguous()
    assert torch.equal(packed['inputs'][:, 5, 7], torch.from_numpy(img[5, 7]))
    for view in (img, img[:, ::-1], img[2:9, 3:]):  # contiguous, flipped, cropped
        assert torch.equal(PackInputs()(dict(img=view))['inputs'],
                           torch.from_numpy(view.transpose(2, 0, 1).copy()))
    sample = packed['data_samples']
    assert isinstance(sample, DataSample)
    assert sample.img_path == 'a.jpg' and sample.sample_idx == 4
    assert sample.gt_label.dtype == torch.long and sample.gt_label.item() == 2


def test_pack_views_and_unlabeled_sample():
    packed = PackInputs()(dict(img=[_image(), _image(8, 8)], gt_label=-1))
    assert [tuple(view.shape) for view in packed['inputs']] == [(3, 20, 24), (3, 8, 8)]
    assert all(view.dtype == torch.uint8 for view in packed['inputs'])
    assert 'gt_label' not in packed['data_samples']
    assert 'img_path' not in packed['data_samples'].metainfo


def test_pack_rejects_non_uint8_image():
    with pytest.raises(TypeError, match='x.jpg'):
        PackInputs()(dict(img=np.zeros((4, 4, 3), np.float32), img_path='x.jpg'))
