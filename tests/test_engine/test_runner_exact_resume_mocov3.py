"""Exact resume of a MoCo v3 run (no queue; predictor; momentum on a half-cosine to 1).

The Fashion-MNIST v3 recipe shrunk to a width-4 ResNet-18 on 16-px crops, 20 images, batch 4,
2 epochs = 10 iterations, an iteration checkpoint every 3 iterations. Resuming mid-epoch
(iter_6) or from the epoch checkpoint must give the uninterrupted run's weights, key encoder,
predictor and optimizer state bit for bit.
"""
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config

from conftest import ROOT
from tiny_run import build_runner, model_state, tiny_images  # noqa: F401

RECIPE = osp.join(ROOT, 'configs', 'mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist.py')


def _config(data_root: str, work_dir: str, **options) -> Config:
    """The v3 demo recipe, tiny: width 4, MLPs 32-64-32, 16-px views, 2 epochs."""
    cfg = Config.fromfile(RECIPE)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny-v3-{uuid.uuid4().hex[:8]}'
    cfg.model.backbone.base_channels = 4
    cfg.model.neck.update(in_channels=32, hidden_channels=64, out_channels=32)
    cfg.model.predictor.update(in_channels=32, hidden_channels=64, out_channels=32)
    loader = cfg.train_dataloader
    loader.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader.dataset.update(data_root=data_root, data_prefix='train', ann_file='')
    for view in loader.dataset.pipeline[1].transforms:
        view[0].size = 16
    cfg.train_cfg.max_epochs = 2
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=3)
    cfg.custom_hooks = [*cfg.custom_hooks,
                        dict(type='AtomicCheckpointHook', by_epoch=True, interval=1)]
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    cfg.merge_from_dict(options)
    return cfg


def _full_state(path: str) -> dict:
    """Model state plus the optimizer's, flattened to tensors."""
    from mmmoco.utils import load_checkpoint_file
    checkpoint = load_checkpoint_file(path)
    state = dict(checkpoint['state_dict'])
    for index, buffers in checkpoint['optimizer']['state'].items():
        for name, value in buffers.items():
            if torch.is_tensor(value):
                state[f'optimizer.{index}.{name}'] = value
    return state


@pytest.fixture(scope='module')
def uninterrupted(tiny_images, tmp_path_factory) -> str:
    work_dir = str(tmp_path_factory.mktemp('v3_uninterrupted'))
    build_runner(_config(tiny_images, work_dir)).train()
    return work_dir


@pytest.mark.parametrize('checkpoint', ['iter_6.pth', 'epoch_1.pth'])
def test_mocov3_resume_is_bit_identical(uninterrupted, tiny_images, tmp_path, checkpoint):
    cfg = _config(tiny_images, str(tmp_path), resume=True,
                  load_from=osp.join(uninterrupted, checkpoint))
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 10
    for name in ('iter_9.pth', 'epoch_2.pth'):
        expected = _full_state(osp.join(uninterrupted, name))
        resumed = _full_state(osp.join(str(tmp_path), name))
        assert expected.keys() == resumed.keys()
        assert any(key.startswith('predictor.') for key in expected)
        assert any(key.startswith('momentum_backbone.') for key in expected)
        assert any(key.startswith('optimizer.') for key in expected)
        for key in expected:
            assert torch.equal(expected[key], resumed[key]), (name, key)
    # the key encoder moved (momentum < 1 before the last step) and differs from the query one
    state = model_state(osp.join(uninterrupted, 'epoch_2.pth'))
    first = model_state(osp.join(uninterrupted, 'iter_3.pth'))
    key = 'momentum_backbone.conv1.weight'
    assert not torch.equal(state[key], first[key])
    assert not torch.equal(state[key], state['backbone.conv1.weight'])
