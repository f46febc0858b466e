"""End-to-end: a MoCo v2 two-view pipeline built from config dicts."""
import os

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmmoco.registry import DATASETS

MOCO_V2_AUGMENTATION = [
    dict(type='RandomResizedCrop', size=32, scale=(0.2, 1.0)),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='GaussianBlur', sigma=(0.1, 2.0), prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]


def _dataset_cfg(root):
    return dict(type='ImageFolderDataset', data_root=root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=MOCO_V2_AUGMENTATION),
        dict(type='PackInputs'),
    ])


def _make_tree(root):
    rng = np.random.default_rng(0)
    for name in ('n01', 'n02'):
        os.makedirs(os.path.join(root, name))
        for index in range(2):
            img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            assert cv2.imwrite(os.path.join(root, name, f'{index}.jpg'), img)


def test_dataset_built_from_config_gives_two_views(tmp_path):
    _make_tree(str(tmp_path))
    np.random.seed(0)
    dataset = DATASETS.build(_dataset_cfg(str(tmp_path)))
    sample = dataset[3]
    assert len(sample['inputs']) == 2
    for view in sample['inputs']:
        assert view.shape == (3, 32, 32) and view.dtype == torch.uint8
    assert not torch.equal(*sample['inputs'])
    assert sample['data_samples'].gt_label.item() == 1
    assert sample['data_samples'].img_path.endswith(os.path.join('n02', '1.jpg'))


def test_runner_dataloader_with_default_scope_and_worker_seeding(tmp_path):
    """Batch of 3 samples, 2 views of different sizes: the collated axes are [view][sample]."""
    _make_tree(str(tmp_path))
    dataset = _dataset_cfg(str(tmp_path))
    dataset['pipeline'][1] = dict(type='MultiView', num_views=[1, 1], transforms=[
        MOCO_V2_AUGMENTATION, [dict(MOCO_V2_AUGMENTATION[0], size=24), *MOCO_V2_AUGMENTATION[1:]]])
    cfg = Config(dict(default_scope='mmmoco', train_dataloader=dict(
        batch_size=3, num_workers=2, dataset=dataset,
        sampler=dict(type='DefaultSampler', shuffle=False),
        worker_init_fn=dict(type='mmmoco.worker_init_from_torch_seed'))))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        loader = Runner.build_dataloader(cfg.train_dataloader)
    torch.manual_seed(0)
    first = next(iter(loader))
    torch.manual_seed(0)
    again = next(iter(loader))
    # pseudo_collate: one list per view, each holding that view of every sample
    assert len(first['inputs']) == 2 and [len(view) for view in first['inputs']] == [3, 3]
    assert [tuple(img.shape) for img in first['inputs'][0]] == [(3, 32, 32)] * 3
    assert [tuple(img.shape) for img in first['inputs'][1]] == [(3, 24, 24)] * 3
    assert [s.gt_label.item() for s in first['data_samples']] == [0, 0, 1]
    assert all(torch.equal(a, b) for a, b in zip(first['inputs'][0], again['inputs'][0]))
