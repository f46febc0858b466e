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


def test_channels_last_output_keeps_the_values():
    views = [torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8) for _ in range(2)]
    plain = SelfSupDataPreprocessor()(dict(inputs=views))['inputs']
    fast = SelfSupDataPreprocessor(channels_last=True)(dict(inputs=views))['inputs']
    for a, b in zip(plain, fast):
        assert torch.equal(a, b) and b.is_contiguous(memory_format=torch.channels_last)
        assert not a.is_contiguous(memory_format=torch.channels_last)


def test_data_samples_stay_where_the_loader_put_them():
    samples = [object(), object()]
    out = SelfSupDataPreprocessor()(dict(inputs=torch.zeros(2, 3, 2, 2, dtype=torch.uint8),
                                         data_samples=samples))
    assert out['data_samples'] is samples
