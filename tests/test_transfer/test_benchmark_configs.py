"""The detection/segmentation benchmark configs follow the MoCo protocol, build, and take
every weight of an extracted mmmoco backbone; the wrapper's weight check and helpers."""
import argparse
import glob
import os.path as osp
import sys
from typing import List

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from mmmoco.apis.transfer import build_config, fill_pretrained
from mmmoco.models.backbones import ResNet
from mmmoco.models.utils.pretrained import check_pretrained_coverage, load_pretrained_weights
from .helpers import ROOT, walk

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
from res5_extra_norm import ResLayerExtraNorm  # noqa: E402

DETECTION = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection')
SEGMENTATION = osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation')
CONFIGS = sorted(glob.glob(osp.join(DETECTION, '*', '*.py'))
                 + glob.glob(osp.join(SEGMENTATION, '*', '*.py')))
VOC = osp.join(DETECTION, 'voc0712', 'faster-rcnn_r50-c4_8xb2-24k_voc0712.py')

TORCHVISION_NORMALIZATION = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                                 bgr_to_rgb=True)
TRAIN_SCALES_640_800 = [(1333, size) for size in range(640, 801, 32)]


def test_every_benchmark_is_here():
    names = {osp.relpath(path, osp.join(ROOT, 'configs', 'benchmarks')) for path in CONFIGS}
    assert names == {
        'mmdetection/voc0712/faster-rcnn_r50-c4_8xb2-24k_voc0712.py',
        'mmdetection/coco/mask-rcnn_r50-fpn_8xb2-ms-1x_coco.py',
        'mmdetection/coco/mask-rcnn_r50-fpn_8xb2-ms-2x_coco.py',
        'mmdetection/coco/mask-rcnn_r50-c4_8xb2-ms-1x_coco.py',
        'mmdetection/coco/mask-rcnn_r50-c4_8xb2-ms-2x_coco.py',
        'mmdetection/cityscapes/mask-rcnn_r50-fpn_8xb1-1x_cityscapes.py',
        'mmsegmentation/cityscapes/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py',
        'mmsegmentation/voc12aug/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'}


def values_of(node: object, key: str) -> List[object]:
    """Every value stored under ``key`` in a config tree.

    Args:
        node: The config tree.
        key: The key.

    Returns:
        The values, depth first.
    """
    found = []
    walk(node, lambda d: found.append(d[key]) if key in d else None)
    return found


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_config_follows_the_moco_protocol(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == ('mmdet' if path.startswith(DETECTION) else 'mmseg')
    backbone = cfg.model.backbone
    assert backbone.type == 'ResNet' and backbone.depth == 50 and backbone.style == 'pytorch'
    assert backbone.get('frozen_stages', -1) == -1
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=None)
    assert cfg.model.get('pretrained') is None and cfg.get('load_from') is None
    # SyncBN, trained, in the backbone and every head and neck that normalizes
    norms = values_of(cfg.model, 'norm_cfg')
    assert norms and all(norm == dict(type='SyncBN', requires_grad=True) for norm in norms)
    assert set(values_of(cfg.model, 'norm_eval')) == {False}
    preprocessor = cfg.model.data_preprocessor
    assert {key: preprocessor[key] for key in TORCHVISION_NORMALIZATION} == \
        TORCHVISION_NORMALIZATION


def test_voc_protocol():
    cfg = Config.fromfile(VOC)
    assert cfg.model.roi_head.shared_head.type == 'ResLayerExtraNorm'
    assert cfg.model.roi_head.shared_head.init_cfg == dict(type='Pretrained', checkpoint=None)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 24000
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == [18000, 22000] and steps[0].end == 24000
    datasets = cfg.train_dataloader.dataset.datasets
    assert [(d.ann_file, d.data_prefix.sub_data_root) for d in datasets] == [
        ('VOC2007/ImageSets/Main/trainval.txt', 'VOC2007/'),
        ('VOC2012/ImageSets/Main/trainval.txt', 'VOC2012/')]
    assert cfg.val_dataloader.dataset.ann_file == 'VOC2007/ImageSets/Main/test.txt'
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = detectron2's 16
    assert cfg.val_evaluator.type == 'VOCMetric' and cfg.val_evaluator.eval_mode == '11points'
    assert [round(t, 2) for t in cfg.val_evaluator.iou_thrs] == \
        [round(0.5 + 0.05 * i, 2) for i in range(10)]
    assert cfg.test_evaluator == cfg.val_evaluator


@pytest.mark.parametrize('head', ['fpn', 'c4'])
def test_coco_schedules_and_scales(head):
    one, two = (Config.fromfile(osp.join(DETECTION, 'coco',
                                         f'mask-rcnn_r50-{head}_8xb2-ms-{n}x_coco.py'))
                for n in (1, 2))
    for cfg, epochs, milestones in ((one, 12, [8, 11]), (two, 24, [16, 22])):
        assert cfg.train_cfg.max_epochs == epochs
        assert [s.milestones for s in cfg.param_scheduler if s.type == 'MultiStepLR'] == \
            [milestones]
        resize = cfg.train_dataloader.dataset.pipeline[2]
        assert resize.type == 'RandomChoiceResize' and resize.scales == TRAIN_SCALES_640_800
        assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert one.model == two.model


def test_segmentation_backbone_is_the_plain_dilated_resnet():
    for path in CONFIGS:
        if path.startswith(SEGMENTATION):
            backbone = Config.fromfile(path).model.backbone
            assert (backbone.strides, backbone.dilations) == ((1, 2, 1, 1), (1, 1, 2, 4))
            assert backbone.contract_dilation


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_model_takes_every_weight_of_an_extracted_backbone(path, moco_backbone):
    cfg = Config.fromfile(path)
    weights, prefix = load_pretrained_weights(moco_backbone)
    paths = fill_pretrained(cfg.model, moco_backbone, prefix)
    c4 = cfg.model.get('roi_head', {}).get('shared_head') is not None
    assert paths == (['backbone', 'roi_head.shared_head'] if c4 else ['backbone'])
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=moco_backbone)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    assert check_pretrained_coverage(model, paths, weights, moco_backbone) == []


def test_res5_extra_norm_is_skipped_by_the_weight_check():
    head = ResLayerExtraNorm(depth=50, norm_cfg=dict(type='BN', requires_grad=True))
    assert head.extra_norm.num_features == 2048
    assert head(torch.randn(2, 1024, 14, 14)).shape == (2, 2048, 7, 7)
    weights = {k: v for k, v in ResNet(depth=50).state_dict().items() if k.startswith('layer4')}
    assert check_pretrained_coverage(head, [''], weights, 'f') == []


def test_weight_check_names_missing_and_reshaped_weights():
    model = ResNet(depth=50)
    weights = dict(model.state_dict())
    del weights['layer2.0.conv1.weight']
    weights['fc.weight'] = torch.zeros(10, 2048)
    weights['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(ValueError) as error:
        check_pretrained_coverage(torch.nn.ModuleDict(dict(backbone=model)), ['backbone'],
                                  weights, 'f.pth')
    assert str(error.value) == (
        'pretrained file f.pth does not fit model.backbone: 1 weights are missing: '
        'layer2.0.conv1.weight; 1 have another shape: conv1.weight: (64, 3, 3, 3) in the '
        'file, (64, 3, 7, 7) in model.backbone')
    weights['conv1.weight'] = model.conv1.weight
    weights['layer2.0.conv1.weight'] = model.layer2[0].conv1.weight
    assert check_pretrained_coverage(torch.nn.ModuleDict(dict(backbone=model)), ['backbone'],
                                     weights, 'f.pth') == ['fc.weight']


def test_training_checkpoint_gives_the_extracted_weights(moco_pretraining, moco_backbone):
    from_training, prefix = load_pretrained_weights(moco_pretraining)
    extracted, no_prefix = load_pretrained_weights(moco_backbone)
    assert (prefix, no_prefix) == ('backbone.', None)
    assert from_training.keys() == extracted.keys()
    assert all(torch.equal(from_training[k], extracted[k]) for k in extracted)


def test_fill_pretrained_leaves_set_checkpoints_alone():
    model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=None)),
                 heads=[dict(init_cfg=dict(type='Pretrained', checkpoint=None)),
                        dict(init_cfg=dict(type='Pretrained', checkpoint='other.pth'))])
    assert fill_pretrained(model, 'p.pth', 'backbone.') == ['backbone', 'heads.0']
    assert model['heads'][0]['init_cfg'] == dict(type='Pretrained', checkpoint='p.pth',
                                                 prefix='backbone.')
    assert model['heads'][1]['init_cfg']['checkpoint'] == 'other.pth'


def test_wrapper_takes_the_codebase_from_the_config():
    def args(config: str) -> argparse.Namespace:
        return argparse.Namespace(config=config, cfg_options=None, work_dir=None, amp=False,
                                  verbose=False, resume=None, launcher='none')

    assert build_config(args(VOC)).work_dir == \
        './work_dirs/faster-rcnn_r50-c4_8xb2-24k_voc0712'
    segmentation = osp.join(SEGMENTATION, 'voc12aug', 'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
    assert build_config(args(segmentation)).work_dir == \
        './work_dirs/fcn_r50-d8_4xb4-20k_voc12aug-512x512'
    with pytest.raises(SystemExit, match="has default_scope='mmmoco', but "
                       'tools/benchmarks/downstream_train.sh runs mmdet and mmseg configs'):
        build_config(args(osp.join(ROOT, 'configs', 'mocov2_r50_8xb32-coslr-200e_in1k.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda path: osp.relpath(path, ROOT))
def test_wrapper_gives_library_configs_the_random_state_hook(path, warnings_logged):
    """Issue 20, item 5: a resumed fine-tuning is exact too, and the start-up check of the
    training hooks finds nothing to warn about in the project's own transfer configs."""
    from mmmoco.apis.config_checks import check_training_hooks
    cfg = build_config(argparse.Namespace(config=path, cfg_options=None, work_dir=None,
                                          amp=False, verbose=False, resume=None,
                                          launcher='none'))
    assert cfg.default_hooks.random_state == dict(type='mmmoco.RandomStateHook')
    check_training_hooks(cfg)
    assert not any('RandomStateHook' in message for message in warnings_logged)
