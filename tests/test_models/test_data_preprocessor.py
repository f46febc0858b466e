"""The data preprocessor normalises uint8 views in both collate styles."""
import pytest
import torch

from mmmoco.models import SelfSupDataPreprocessor


def test_normalises_two_views_from_either_collate_style():
    pre = SelfSupDataPreprocessor(mean=(10, 20, 30), std=(2, 4, 5))
    img = torch.full((3, 2, 2), 40, dtype=torch.uint8)
    expected = torch.tensor([15., 5., 2.]).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    stacked = pre(dict(inputs=[torch.stack([img, img])] * 2))
    listed = pre(dict(inputs=[[img, img], [img, img]]))
    for out in (stacked, listed):
        assert len(out['inputs']) == 2
        assert all(torch.equal(v, expected) for v in out['inputs'])
    single = pre(dict(inputs=[img, img]))['inputs']
    assert torch.equal(single, expected)


def test_rejects_wrong_shapes_and_std():
    with pytest.raises(ValueError, match='std'):
        SelfSupDataPreprocessor(std=(0, 1, 1))
    with pytest.raises(ValueError, match='shape'):
        SelfSupDataPreprocessor()(dict(inputs=torch.zeros(2, 1, 4, 4)))
