"""End to end on CPU: every benchmark config family, shrunk (BN instead of SyncBN, ~128-px
images, a couple of iterations), fine-tuned through the wrapper from the backbone of a short
real mmmoco pretraining on real VOC/COCO images, then evaluated on the same images.

There is no Cityscapes data offline: the Cityscapes configs run on the labelme images laid out
as Cityscapes (instances: COCO-format jsons as mmdet's converter writes; semantic: train-id
maps of the VOC classes Cityscapes has), evaluated with COCO AP (the official Cityscapes
instance metric needs cityscapesscripts and gtFine instance maps) and mIoU.
"""
import os.path as osp

import pytest
import torch

from mmmoco.utils import load_checkpoint_file
from .helpers import (ROOT, logged_metrics, run_log, run_wrapper, succeeded, tiny_config,
                      write_config)

CONFIGS = osp.join(ROOT, 'configs', 'benchmarks')

COCO_METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP')
C4_MODULES = ('model.backbone', 'model.roi_head.shared_head')

#: codebase folder, config, dataset fixture, the config's data root, metrics, modules loading
#: the pretrained file, pretrained fixture, processes.
CASES = [
    ('mmdetection', 'voc0712/faster-rcnn_r50-c4_8xb2-24k_voc0712.py', 'voc_detection_root',
     'data/VOCdevkit', ('pascal_voc/mAP', 'pascal_voc/AP50', 'pascal_voc/AP75'), C4_MODULES,
     'moco_backbone', 1),
    ('mmdetection', 'coco/mask-rcnn_r50-fpn_8xb2-ms-1x_coco.py', 'coco_root', 'data/coco',
     COCO_METRICS, ('model.backbone',), 'moco_backbone', 1),
    ('mmdetection', 'coco/mask-rcnn_r50-c4_8xb2-ms-1x_coco.py', 'coco_root', 'data/coco',
     COCO_METRICS, C4_MODULES, 'moco_backbone', 1),
    ('mmdetection', 'cityscapes/mask-rcnn_r50-fpn_8xb1-1x_cityscapes.py',
     'cityscapes_instance_root', 'data/cityscapes', COCO_METRICS, ('model.backbone',),
     'moco_backbone', 1),
    ('mmsegmentation', 'voc12aug/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
     'voc_segmentation_root', 'data/VOCdevkit/VOC2012', ('mIoU',), ('model.backbone',),
     'moco_backbone', 2),
    # the raw training checkpoint: its backbone. weights are used
    ('mmsegmentation', 'cityscapes/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py',
     'cityscapes_semantic_root', 'data/cityscapes', ('mIoU',), ('model.backbone',),
     'moco_pretraining', 1),
]


def without_cityscapes_metric(cfg: dict) -> None:
    """Drop the official Cityscapes instance metric from the evaluators.

    Args:
        cfg: A config dict, changed in place.
    """
    for key in ('val_evaluator', 'test_evaluator'):
        if isinstance(cfg[key], list):
            cfg[key] = [e for e in cfg[key] if e['type'] != 'CityScapesMetric']


@pytest.mark.parametrize('codebase,config,data,data_root,metrics,modules,pretrain,gpus', CASES,
                         ids=[osp.basename(case[1])[:-3] for case in CASES])
def test_wrapper_fine_tunes_and_evaluates(codebase, config, data, data_root, metrics, modules,
                                          pretrain, gpus, request, tmp_path):
    cfg = tiny_config(osp.join(CONFIGS, codebase, config), data_root,
                      request.getfixturevalue(data).rstrip('/'))
    without_cityscapes_metric(cfg)
    pretrain_file = request.getfixturevalue(pretrain)
    work_dir = str(tmp_path / 'work')
    output = succeeded(run_wrapper(write_config(cfg, str(tmp_path / 'tiny.py')),
                                   pretrain_file, work_dir, gpus=gpus))
    logged = logged_metrics(work_dir)
    assert set(metrics) <= set(logged), (sorted(logged), output[-3000:])
    log = run_log(work_dir)
    assert f'GPU number: {gpus}' in log  # processes: gloo DDP on CPU when > 1
    assert f'{pretrain_file} holds every weight of {", ".join(modules)}' in log
    assert 'Pretrained weights loaded' in log and ', '.join(modules) in log
    assert 'load model from' in log or 'load backbone. in model from' in log


def partial_backbone(backbone: str, path: str) -> None:
    """Write a broken copy of a backbone: two weights dropped, one of another shape.

    Args:
        backbone: The extracted backbone.
        path: The broken copy.
    """
    state = dict(load_checkpoint_file(backbone)['state_dict'])
    del state['layer1.0.bn1.running_mean'], state['layer4.2.conv3.weight']
    state['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    torch.save(dict(state_dict=state), path)


def test_wrapper_refuses_a_backbone_missing_weights(moco_backbone, tmp_path):
    partial = str(tmp_path / 'partial.pth')
    partial_backbone(moco_backbone, partial)
    config = osp.join(CONFIGS, 'mmdetection', 'voc0712',
                      'faster-rcnn_r50-c4_8xb2-24k_voc0712.py')
    result = run_wrapper(config, partial, str(tmp_path / 'work'))
    assert result.returncode != 0
    assert f'pretrained file {partial} does not fit model.backbone, ' \
           'model.roi_head.shared_head: 2 weights are missing' in result.stderr
    assert 'layer1.0.bn1.running_mean' in result.stderr
    assert 'layer4.2.conv3.weight' in result.stderr
    assert 'conv1.weight: (64, 3, 3, 3) in the file, (64, 3, 7, 7)' in result.stderr
    assert 'Iter(train)' not in result.stdout + result.stderr


def test_wrapper_refuses_a_missing_pretrain_file(tmp_path):
    config = osp.join(CONFIGS, 'mmsegmentation', 'voc12aug',
                      'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
    missing = str(tmp_path / 'nothing.pth')
    result = run_wrapper(config, missing, str(tmp_path / 'work'))
    assert result.returncode == 2
    assert f"pretrain checkpoint '{missing}' not found" in result.stderr
