"""The recipes carry the papers' hyper-parameters and build through the registries alone.

MoCo v3 numbers are those of facebookresearch/moco-v3 (CONFIG.md commands on top of the
defaults of main_moco.py / main_lincls.py, and vits.py / moco/builder.py).
"""
import glob
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import ROOT
from mmmoco.registry import DATASETS, HOOKS, MODELS

CONFIGS = osp.join(ROOT, 'configs')

#: Every config file of the repository except the _base_ fragments, relative to configs/.
ALL_CONFIGS = sorted(
    osp.relpath(path, CONFIGS)
    for path in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(path, CONFIGS).split(osp.sep))

#: Companion libraries whose configs the transfer benchmarks inherit (``'mmdet::...'``).
LIBRARY_PACKAGES = ('mmdet', 'mmseg')

V3_R50 = {100: 'mocov3_r50_8xb512-amp-coslr-100e_in1k.py',
          300: 'mocov3_r50_8xb512-amp-coslr-300e_in1k.py',
          1000: 'mocov3_r50_8xb512-amp-coslr-1000e_in1k.py'}
V3_VIT_S = 'mocov3_vit-s16_16xb256-amp-coslr-300e_in1k.py'
V3_VIT_B = 'mocov3_vit-b16_16xb256-amp-coslr-300e_in1k.py'
V3_DEMO = 'mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist.py'
LINEAR = osp.join('benchmarks', 'linear_eval')


def _cfg(name):
    return Config.fromfile(osp.join(CONFIGS, name))


def _header(name: str) -> str:
    """The leading comment block of a config file."""
    with open(osp.join(CONFIGS, name), encoding='utf-8') as file:
        lines = file.read().splitlines()
    return '\n'.join(line for line in lines[:next(
        i for i, line in enumerate(lines) if not line.startswith('#'))])


def _scheduler_spans(cfg):
    """(warm-up epochs, total epochs) of a LinearLR + CosineAnnealingLR schedule."""
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and cosine.type == 'CosineAnnealingLR'
    assert warmup.begin == 0 and cosine.begin == warmup.end and cosine.eta_min == 0.0
    assert cosine.T_max == cosine.end - cosine.begin
    assert warmup.convert_to_iter_based and cosine.convert_to_iter_based  # per iteration
    return warmup.end, cosine.end


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_every_config_loads(name):
    try:
        cfg = Config.fromfile(osp.join(CONFIGS, name))
    except ModuleNotFoundError as error:
        # mmdet/mmseg configs inherit the library's own (directly or through a sibling)
        missing = [package for package in LIBRARY_PACKAGES
                   if package in str(error) and importlib.util.find_spec(package) is None]
        if not missing:
            raise
        pytest.skip(f'{name} inherits from {missing[0]}, which is not installed')
    assert 'model' in cfg, name


def test_mocov1_recipe():
    cfg = _cfg('mocov1_r50_8xb32-steplr-200e_in1k.py')
    assert cfg.default_scope == 'mmmoco'
    assert cfg.model.neck.type == 'LinearNeck' and cfg.model.neck.out_channels == 128
    assert cfg.model.head == dict(type='ContrastiveHead', temperature=0.07)
    assert cfg.model.queue == dict(type='KeyQueue', feat_dim=128, queue_len=65536)
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.03, momentum=0.9,
                                               weight_decay=1e-4)
    assert cfg.param_scheduler[0].milestones == [120, 160] and cfg.train_cfg.max_epochs == 200
    assert cfg.train_dataloader.batch_size == 32
    views = cfg.train_dataloader.dataset.pipeline[1].transforms
    assert [t.type for t in views] == ['RandomResizedCrop', 'RandomGrayscale', 'ColorJitter',
                                       'RandomFlip']
    assert views[2].hue == 0.4 and views[0].scale == (0.2, 1.0)
    assert cfg.model.momentum == dict(start=0.999)
    assert cfg.default_hooks.momentum == dict(type='MomentumUpdateHook')


def test_mocov2_recipe():
    cfg = _cfg('mocov2_r50_8xb32-coslr-200e_in1k.py')
    assert cfg.model.neck.type == 'MLPNeck' and cfg.model.neck.hidden_channels == 2048
    assert cfg.model.head.temperature == 0.2
    assert cfg.param_scheduler[0].type == 'CosineAnnealingLR'
    views = cfg.train_dataloader.dataset.pipeline[1].transforms
    jitter = next(t for t in views if t.type == 'ColorJitter')
    blur = next(t for t in views if t.type == 'GaussianBlur')
    assert (jitter.brightness, jitter.hue, jitter.prob) == (0.4, 0.1, 0.8)
    assert blur.sigma == (0.1, 2.0) and blur.prob == 0.5


@pytest.mark.parametrize('name', ['mocov1_r50_8xb32-steplr-200e_in1k.py',
                                  'mocov2_r50_8xb32-coslr-200e_in1k.py',
                                  'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py',
                                  'mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py'])
def test_every_part_builds_from_the_config(name, sample_imagenet):
    cfg = _cfg(name)
    model = MODELS.build(cfg.model)
    out_dim = cfg.model.neck.out_channels
    assert model.queue.keys.shape == (cfg.model.queue.queue_len, out_dim)
    for hook in cfg.custom_hooks:
        HOOKS.build(hook)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=sample_imagenet, ann_file='meta/train.txt', data_prefix='train')
    sample = DATASETS.build(dataset_cfg)[0]
    assert len(sample['inputs']) == 2 and sample['inputs'][0].dtype == torch.uint8


def test_bf16_autocast_step_on_cpu():
    """The CPU stand-in for AMP: a MoCo step under bf16 autocast gives a finite loss."""
    cfg = _cfg('mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')
    cfg.model.queue.queue_len = 64
    model = MODELS.build(cfg.model).train()
    views = [torch.randint(0, 256, (8, 3, 28, 28), dtype=torch.uint8) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=views), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert torch.isfinite(model.backbone.conv1.weight.grad).all()
    assert model.queue.keys.dtype == torch.float32


# ------------------------------------------------------------------------------- MoCo v3

def _assert_v3_heads(model_cfg, in_channels: int, projector_layers: int,
                     predictor_last_bn: bool) -> None:
    """moco-v3 builder.py: --moco-mlp-dim 4096, --moco-dim 256, SyncBN (convert_sync_batchnorm),
    the projector's last BN without affine, the predictor's only for ViT (last_bn=True)."""
    sync = dict(type='SyncBN')
    last_bn = dict(type='SyncBN', affine=False)
    assert model_cfg.type == 'MoCoV3'
    assert model_cfg.neck == dict(type='MLPNeck', in_channels=in_channels, hidden_channels=4096,
                                  out_channels=256, num_layers=projector_layers, norm_cfg=sync,
                                  last_norm_cfg=last_bn)
    assert model_cfg.predictor == dict(type='MLPNeck', in_channels=256, hidden_channels=4096,
                                       out_channels=256, num_layers=2, norm_cfg=sync,
                                       last_norm_cfg=last_bn if predictor_last_bn else None)


def _assert_v3_views(cfg, crop_min: float, size: int = 224) -> None:
    """BYOL's asymmetric augmentation of main_moco.py (augmentation1 / augmentation2)."""
    multiview = cfg.train_dataloader.dataset.pipeline[1]
    assert multiview.type == 'MultiView' and multiview.num_views == [1, 1]
    view1, view2 = multiview.transforms
    for view, blur_p, solarize_p in ((view1, 1.0, 0.0), (view2, 0.1, 0.2)):
        assert [t.type for t in view] == ['RandomResizedCrop', 'ColorJitter', 'RandomGrayscale',
                                          'GaussianBlur', 'Solarize', 'RandomFlip']
        crop, jitter, gray, blur, solarize, flip = view
        assert crop.size == size and crop.scale == (crop_min, 1.0)
        assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue,
                jitter.prob) == (0.4, 0.4, 0.2, 0.1, 0.8)
        assert gray.prob == 0.2 and flip.prob == 0.5
        assert blur.prob == blur_p and solarize.prob == solarize_p
        assert solarize.threshold == 128  # PIL ImageOps.solarize's default
        if size == 224:
            assert blur.sigma == (0.1, 2.0)


@pytest.mark.parametrize('epochs, base_lr, weight_decay, momentum, top1', [
    (100, 0.6, 1e-6, 0.99, '68.9'), (300, 0.3, 1e-6, 0.99, '72.8'),
    (1000, 0.3, 1.5e-6, 0.996, '74.6')])
def test_mocov3_r50_recipes(epochs, base_lr, weight_decay, momentum, top1):
    name = V3_R50[epochs]
    cfg = _cfg(name)
    _assert_v3_heads(cfg.model, 2048, projector_layers=2, predictor_last_bn=False)
    assert cfg.model.head == dict(type='ContrastiveHead', temperature=1.0)
    assert cfg.model.backbone.depth == 50 and cfg.model.backbone.zero_init_residual
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(type='LARS', lr=base_lr, momentum=0.9,
                                               weight_decay=weight_decay)
    # -b 4096 = 8 x 512, lr per 256 images
    assert cfg.train_dataloader.batch_size * 8 == 4096
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    assert _scheduler_spans(cfg) == (10, epochs) and cfg.train_cfg.max_epochs == epochs
    assert cfg.model.momentum == dict(start=momentum, end=1.0)
    _assert_v3_views(cfg, crop_min=0.2)
    header = _header(name)
    assert 'python main_moco.py' in header and 'Published linear top-1' in header
    assert f'{top1}.' in header and '--crop-min=.2' in header


@pytest.mark.parametrize('name, width, top1', [(V3_VIT_S, 384, '73.2'),
                                               (V3_VIT_B, 768, '76.7')])
def test_mocov3_vit_recipes(name, width, top1):
    cfg = _cfg(name)
    backbone = cfg.model.backbone
    assert backbone.type == 'VisionTransformer' and backbone.freeze_patch_embed  # stop-grad-conv1
    assert backbone.arch == dict(embed_dims=width, depth=12, num_heads=12)  # 12 heads for ViT-S
    assert (backbone.img_size, backbone.patch_size, backbone.out_type) == (224, 16, 'cls_token')
    _assert_v3_heads(cfg.model, width, projector_layers=3, predictor_last_bn=True)
    assert cfg.model.head == dict(type='ContrastiveHead', temperature=0.2)
    # torch.optim.AdamW(model.parameters(), lr, weight_decay=.1): torch's default betas and eps
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.999),
                                               eps=1e-8, weight_decay=0.1)
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # weight decay on every parameter
    assert cfg.train_dataloader.batch_size * 16 == 4096
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    assert _scheduler_spans(cfg) == (40, 300)
    assert cfg.model.momentum == dict(start=0.99, end=1.0)
    _assert_v3_views(cfg, crop_min=0.08)
    header = _header(name)
    assert '--lr=1.5e-4 --weight-decay=.1' in header and '--moco-t=.2' in header
    assert f'{top1}.' in header


@pytest.mark.parametrize('name, arch, width, base_lr, top1', [
    ('resnet50_mocov3-linear-8xb128-coslr-90e_imagenet.py', None, 2048, 0.1, '68.9 / 72.8 / 74.6'),
    ('vit-s16_linear-8xb128-coslr-90e_imagenet.py', 'small', 384, 3.0, '73.2'),
    ('vit-b16_linear-8xb128-coslr-90e_imagenet.py', 'base', 768, 3.0, '76.7')])
def test_mocov3_linear_probes(name, arch, width, base_lr, top1):
    """main_lincls.py: batch 1024, SGD momentum 0.9, wd 0, 90 epochs, cosine per epoch."""
    cfg = _cfg(osp.join(LINEAR, name))
    assert cfg.model.type == 'ImageClassifier' and cfg.model.freeze_backbone
    assert cfg.model.in_channels == width and cfg.model.num_classes == 1000
    if arch is not None:
        assert cfg.model.backbone.arch == arch and cfg.model.backbone.out_type == 'cls_token'
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=base_lr, momentum=0.9,
                                               weight_decay=0.0)
    assert cfg.train_dataloader.batch_size * 8 == 1024
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    (cosine, ) = cfg.param_scheduler
    assert cosine.type == 'CosineAnnealingLR' and cosine.T_max == 90 and cosine.eta_min == 0.0
    assert cosine.by_epoch and not cosine.get('convert_to_iter_based', False)
    assert cfg.train_cfg.max_epochs == 90
    assert top1 in _header(osp.join(LINEAR, name))


def test_vit_fine_tune_recipe():
    name = osp.join('benchmarks', 'fine_tune',
                    'vit-b16_finetune-8xb128-amp-coslr-150e_imagenet.py')
    cfg = _cfg(name)
    backbone = cfg.model.backbone
    assert backbone.arch == 'base' and not backbone.freeze_patch_embed
    assert not cfg.model.freeze_backbone and cfg.train_cfg.max_epochs == 150
    assert cfg.optim_wrapper.optimizer.lr == 5e-4 and cfg.auto_scale_lr.base_batch_size == 512
    assert '83.2' in _header(name)


def test_mocov3_demo_recipe_is_v3_on_the_v2_demo_data():
    v2 = _cfg('mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')
    cfg = _cfg(V3_DEMO)
    assert cfg.model.type == 'MoCoV3' and 'queue' not in cfg.model
    assert cfg.model.backbone == dict(v2.model.backbone, norm_cfg=dict(type='BN'),
                                      zero_init_residual=True)
    assert cfg.model.neck.last_norm_cfg == dict(type='BN', affine=False)
    assert cfg.model.predictor.in_channels == cfg.model.neck.out_channels
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.train_dataloader.dataset.data_root == v2.train_dataloader.dataset.data_root
    _assert_v3_views(cfg, crop_min=0.4, size=28)
    assert cfg.model.momentum == dict(start=0.99, end=1.0)
    monitor = _cfg(V3_DEMO.replace('.py', '_knn-monitor.py'))
    assert cfg.custom_hooks == [] and [h.type for h in monitor.custom_hooks] == ['KNNEvalHook']
    assert monitor.default_hooks == cfg.default_hooks  # the momentum hook stays a default


@pytest.mark.parametrize('name', [V3_R50[100], V3_VIT_S, V3_DEMO])
def test_every_part_of_a_v3_recipe_builds(name, sample_imagenet):
    cfg = _cfg(name)
    model = MODELS.build(cfg.model)
    assert not hasattr(model, 'queue')
    assert model.predictor.out_channels == cfg.model.neck.out_channels
    for hook in cfg.custom_hooks:
        HOOKS.build(hook)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=sample_imagenet, ann_file='meta/train.txt', data_prefix='train')
    views = DATASETS.build(dataset_cfg)[0]['inputs']
    size = cfg.train_dataloader.dataset.pipeline[1].transforms[0][0].size
    assert len(views) == 2 and all(v.dtype == torch.uint8 and v.shape == (3, size, size)
                                   for v in views)


def test_vit_knn_config_reads_the_class_token():
    cfg = _cfg(osp.join('benchmarks', 'knn', 'vit-s16_knn_imagenet.py'))
    assert cfg.model.backbone == dict(type='VisionTransformer', arch='small', img_size=224,
                                      patch_size=16, out_type='cls_token')
    backbone = MODELS.build(dict(cfg.model.backbone, arch=dict(embed_dims=32, depth=1,
                                                               num_heads=2), img_size=32))
    (features, ) = backbone(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, 32)


FAST_PATH = 'mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py'
DEMO = 'mocov2_r18w16-small_2xb32-amp-coslr-120e_fashionmnist.py'


def test_fast_path_recipe_is_the_fashion_recipe_on_two_processes():
    base = _cfg('mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')
    batchaug = _cfg('mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_batchaug.py')
    cfg = _cfg(FAST_PATH)
    for key in ('backbone', 'neck', 'queue', 'head'):
        assert cfg.model[key] == base.model[key]
    assert cfg.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.model.data_preprocessor == dict(batchaug.model.data_preprocessor,
                                               channels_last=True)
    # 2 processes x 64 = the 128 images lr 0.06 is set for
    assert cfg.train_dataloader.batch_size * 2 == cfg.auto_scale_lr.base_batch_size == 128
    assert cfg.train_dataloader.persistent_workers
    assert cfg.train_dataloader.dataset == batchaug.train_dataloader.dataset
    epochs = cfg.train_cfg.max_epochs
    assert cfg.param_scheduler[0].T_max == cfg.param_scheduler[0].end == epochs == 150
    assert cfg.model.momentum == base.model.momentum == dict(start=0.99)
    assert (cfg.default_hooks.momentum, cfg.default_hooks.random_state) == (
        dict(type='MomentumUpdateHook'), dict(type='RandomStateHook'))
    monitor, rankme = cfg.custom_hooks
    assert rankme == dict(type='RankMeHook', interval=115)  # every 5 epochs of 23 steps
    assert monitor.type == 'KNNEvalHook' and monitor.interval == 25
    for loader, split in ((monitor.bank_dataloader, 'train'), (monitor.query_dataloader, 'val')):
        assert loader.dataset.ann_file == f'meta/{split}.txt'


def test_demo_recipe_is_the_fast_path_with_half_the_batch():
    """The demo: 2 x 32 images a step at the linearly scaled learning rate, 120 epochs (the
    fast path's wall time), everything else the fast path's."""
    fast, cfg = _cfg(FAST_PATH), _cfg(DEMO)
    assert cfg.model == fast.model and cfg.custom_hooks == fast.custom_hooks
    assert cfg.train_dataloader.dataset == fast.train_dataloader.dataset
    assert cfg.train_dataloader.batch_size * 2 == cfg.auto_scale_lr.base_batch_size == 64
    assert cfg.optim_wrapper.optimizer == dict(fast.optim_wrapper.optimizer, lr=0.03)
    assert cfg.optim_wrapper.type == fast.optim_wrapper.type == 'AmpOptimWrapper'
    epochs = cfg.train_cfg.max_epochs
    assert cfg.param_scheduler[0].T_max == cfg.param_scheduler[0].end == epochs == 120
    with open(osp.join(ROOT, 'tools', 'demo.sh')) as script:
        assert f'configs/{DEMO}' in script.read()
