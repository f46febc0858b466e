"""The recipes carry the papers' hyper-parameters and build through the registries alone."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import ROOT
from mmmoco.registry import DATASETS, HOOKS, MODELS

CONFIGS = osp.join(ROOT, 'configs')


def _cfg(name):
    return Config.fromfile(osp.join(CONFIGS, name))


def test_mocov1_recipe():
    cfg = _cfg('mocov1_r50_8xb32.py')
    assert cfg.default_scope == 'mmmoco'
    assert cfg.model.neck.type == 'LinearNeck' and cfg.model.neck.out_channels == 128
    assert cfg.model.head.temperature == 0.07 and cfg.model.head.queue_len == 65536
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.03, momentum=0.9,
                                               weight_decay=1e-4)
    assert cfg.param_scheduler[0].milestones == [120, 160] and cfg.train_cfg.max_epochs == 200
    assert cfg.train_dataloader.batch_size == 32
    views = cfg.train_dataloader.dataset.pipeline[1].transforms
    assert [t.type for t in views] == ['RandomResizedCrop', 'RandomGrayscale', 'ColorJitter',
                                       'RandomFlip']
    assert views[2].hue == 0.4 and views[0].scale == (0.2, 1.0)
    assert dict(type='MomentumUpdateHook', momentum=0.999) in cfg.custom_hooks


def test_mocov2_recipe():
    cfg = _cfg('mocov2_r50_8xb32.py')
    assert cfg.model.neck.type == 'MLPNeck' and cfg.model.neck.hidden_channels == 2048
    assert cfg.model.head.temperature == 0.2
    assert cfg.param_scheduler[0].type == 'CosineAnnealingLR'
    views = cfg.train_dataloader.dataset.pipeline[1].transforms
    jitter = next(t for t in views if t.type == 'ColorJitter')
    blur = next(t for t in views if t.type == 'GaussianBlur')
    assert (jitter.brightness, jitter.hue, jitter.prob) == (0.4, 0.1, 0.8)
    assert blur.sigma == (0.1, 2.0) and blur.prob == 0.5


@pytest.mark.parametrize('name', ['mocov1_r50_8xb32.py', 'mocov2_r50_8xb32.py',
                                  'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py'])
def test_every_part_builds_from_the_config(name, sample_imagenet):
    cfg = _cfg(name)
    model = MODELS.build(cfg.model)
    out_dim = cfg.model.neck.out_channels
    assert model.head.queue.shape == (cfg.model.head.queue_len, out_dim)
    for hook in cfg.custom_hooks:
        HOOKS.build(hook)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=sample_imagenet, ann_file='meta/train.txt', data_prefix='')
    sample = DATASETS.build(dataset_cfg)[0]
    assert len(sample['inputs']) == 2 and sample['inputs'][0].dtype == torch.uint8


def test_bf16_autocast_step_on_cpu():
    """The CPU stand-in for AMP: a MoCo step under bf16 autocast gives a finite loss."""
    cfg = _cfg('mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')
    cfg.model.head.queue_len = 64
    model = MODELS.build(cfg.model).train()
    views = [torch.randint(0, 256, (8, 3, 28, 28), dtype=torch.uint8) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=views), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert torch.isfinite(model.backbone.conv1.weight.grad).all()
    assert model.head.queue.dtype == torch.float32
