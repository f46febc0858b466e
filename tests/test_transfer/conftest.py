"""Fixtures of the transfer tests: a backbone from a short real mmmoco pretraining, and the
labelme-examples images laid out as each benchmark's dataset."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmdet.datasets import CityscapesDataset, CocoDataset

from .helpers import (LABELME, ROOT, write_cityscapes_segmentation, write_coco_layout,
                      write_voc_detection, write_voc_segmentation)


@pytest.fixture(scope='session')
def labelme_examples() -> str:
    """The labelme-examples folder; skips the test when the package is not installed.

    Returns:
        The folder.
    """
    if not osp.isdir(LABELME):
        pytest.skip('real VOC/COCO sample data missing: apt-get install labelme-examples')
    return LABELME


@pytest.fixture(scope='session')
def moco_pretraining(sample_imagenet, tmp_path_factory) -> str:
    """One short epoch of the MoCo v2 R50 recipe on 20 real ImageNet images (64-px crops),
    seed 0.

    Returns:
        The training checkpoint (``epoch_1.pth``).
    """
    work_dir = str(tmp_path_factory.mktemp('pretrain'))
    cmd = [sys.executable, 'tools/train.py',
           osp.join('configs', 'mocov2_r50_8xb32-coslr-200e_in1k.py'),
           '--work-dir', work_dir, '--cfg-options',
           f'train_dataloader.dataset.data_root={sample_imagenet}',
           'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
           'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=1',
           'model.queue.queue_len=16', 'model.single_device_bn_splits=2',
           'train_dataloader.dataset.pipeline.1.transforms.0.size=64',
           'randomness.seed=0']  # the same backbone in every session (see tiny_config)
    run_tool(cmd)
    return osp.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='session')
def moco_backbone(moco_pretraining, tmp_path_factory) -> str:
    """The backbone of :func:`moco_pretraining`, extracted by extract_backbone.py.

    Returns:
        The extracted backbone file.
    """
    path = str(tmp_path_factory.mktemp('backbone') / 'backbone.pth')
    run_tool([sys.executable, 'tools/model_converters/extract_backbone.py', moco_pretraining,
              path])
    return path


def run_tool(cmd) -> None:
    """Run an mmmoco tool (one thread), failing the test with its output if it fails.

    Args:
        cmd: The command.
    """
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


@pytest.fixture(scope='session')
def voc_detection_root(labelme_examples, tmp_path_factory) -> str:
    """VOCdevkit with VOC2007 trainval/test and VOC2012 trainval (real VOC images, boxes)."""
    return write_voc_detection(str(tmp_path_factory.mktemp('voc_detection')))


@pytest.fixture(scope='session')
def coco_root(labelme_examples, tmp_path_factory) -> str:
    """COCO layout (train2017, val2017, instances jsons) of the real labelme instances."""
    root = str(tmp_path_factory.mktemp('coco'))
    return write_coco_layout(
        root, images={'train2017': '', 'val2017': ''},
        annotations={'annotations/instances_train2017.json': 'train2017',
                     'annotations/instances_val2017.json': 'val2017'},
        classes=CocoDataset.METAINFO['classes'])


@pytest.fixture(scope='session')
def cityscapes_instance_root(labelme_examples, tmp_path_factory) -> str:
    """Cityscapes instance layout (leftImg8bit + COCO-format jsons, as mmdet's Cityscapes
    converter writes them) of the real labelme instances of Cityscapes classes."""
    root = str(tmp_path_factory.mktemp('cityscapes_instance'))
    return write_coco_layout(
        root, images={'leftImg8bit/train': 'labelme/', 'leftImg8bit/val': 'labelme/'},
        annotations={
            'annotations/instancesonly_filtered_gtFine_train.json': 'leftImg8bit/train',
            'annotations/instancesonly_filtered_gtFine_val.json': 'leftImg8bit/val'},
        classes=CityscapesDataset.METAINFO['classes'])


@pytest.fixture(scope='session')
def voc_segmentation_root(labelme_examples, tmp_path_factory) -> str:
    """VOC2012 with train/aug/val segmentation lists (real VOC images and class masks)."""
    return write_voc_segmentation(str(tmp_path_factory.mktemp('voc_segmentation')))


@pytest.fixture(scope='session')
def cityscapes_semantic_root(labelme_examples, tmp_path_factory) -> str:
    """Cityscapes semantic layout (leftImg8bit, gtFine train ids) of the real VOC masks."""
    return write_cityscapes_segmentation(str(tmp_path_factory.mktemp('cityscapes_semantic')))
