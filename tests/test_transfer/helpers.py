"""Helpers of the transfer tests: real labelme-examples data laid out as each benchmark config
expects, CPU-sized copies of the configs, and running the wrapper.

The configs stay as they are (SyncBN, full image sizes, 24k iterations, ...); the tests write
a shrunk copy: SyncBN becomes BN (torch's SyncBatchNorm needs CUDA under DDP), images are
resized to ~128 px, training runs a couple of iterations and validation runs on the same
few images.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from conftest import free_port
from mmengine.config import Config
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Where Debian's labelme-examples package puts its PASCAL VOC / COCO exports.
LABELME = '/usr/share/doc/labelme-examples/examples'
VOC_DETECTION = osp.join(LABELME, 'bbox_detection', 'data_dataset_voc')
INSTANCE_VOC = osp.join(LABELME, 'instance_segmentation', 'data_dataset_voc')
INSTANCE_COCO = osp.join(LABELME, 'instance_segmentation', 'data_dataset_coco')

#: The three real VOC images of labelme-examples.
IMAGES = ('2011_000003', '2011_000006', '2011_000025')

#: labelme's VOC class names that COCO spells differently.
VOC_TO_COCO_NAMES = {'aeroplane': 'airplane', 'motorbike': 'motorcycle', 'sofa': 'couch',
                     'diningtable': 'dining table', 'tv/monitor': 'tv'}

#: VOC class index -> Cityscapes train id, for the VOC classes Cityscapes also has.
VOC_TO_CITYSCAPES_TRAIN_IDS = {2: 18, 6: 15, 7: 13, 14: 17, 15: 11, 19: 16}


def write_voc_detection(root: str) -> str:
    """Lay out the labelme VOC boxes as VOCdevkit: VOC2007 trainval (2 images) + test (all 3),
    VOC2012 trainval (the third image).

    Args:
        root: An empty folder.

    Returns:
        The VOCdevkit folder.
    """
    devkit = osp.join(root, 'VOCdevkit')
    for year, trainval in (('VOC2007', IMAGES[:2]), ('VOC2012', IMAGES[2:])):
        test = IMAGES if year == 'VOC2007' else ()
        for name in sorted(set(trainval) | set(test)):
            copy(osp.join(VOC_DETECTION, 'JPEGImages', f'{name}.jpg'),
                 osp.join(devkit, year, 'JPEGImages', f'{name}.jpg'))
            write_voc_xml(osp.join(VOC_DETECTION, 'Annotations', f'{name}.xml'),
                          osp.join(devkit, year, 'Annotations', f'{name}.xml'))
        write_list(osp.join(devkit, year, 'ImageSets', 'Main', 'trainval.txt'), trainval)
        if test:
            write_list(osp.join(devkit, year, 'ImageSets', 'Main', 'test.txt'), test)
    return devkit


def write_voc_xml(src: str, dst: str) -> None:
    """Copy a labelme VOC annotation, filling its empty flags with 0 as VOC's files have them
    (mmdet reads ``<difficult>`` as an integer).

    Args:
        src: labelme's xml file.
        dst: The copy.
    """
    tree = ET.parse(src)
    for flag in ('difficult', 'truncated'):
        for element in tree.iter(flag):
            element.text = element.text or '0'
    os.makedirs(osp.dirname(dst), exist_ok=True)
    tree.write(dst)


def write_coco_layout(root: str, images: Dict[str, str], annotations: Dict[str, str],
                      classes: Sequence[str]) -> str:
    """Lay out the labelme COCO instances export as a COCO-format dataset.

    Args:
        root: The dataset root to create.
        images: Image folder (relative to root) -> the name prefix images get in the json's
            ``file_name`` (relative to that folder).
        annotations: Json path (relative to root) -> image folder it describes (a key of
            ``images``).
        classes: The dataset's class names; categories get ids 1..n in this order and
            annotations of labelme classes not among them (after VOC->COCO renaming) are
            dropped.

    Returns:
        ``root``.
    """
    with open(osp.join(INSTANCE_COCO, 'annotations.json')) as f:
        source = json.load(f)
    names = {c['id']: VOC_TO_COCO_NAMES.get(c['name'], c['name']) for c in source['categories']}
    category_ids = {name: i + 1 for i, name in enumerate(classes)}
    for folder, prefix in images.items():
        for image in source['images']:
            copy(osp.join(INSTANCE_COCO, image['file_name']),
                 osp.join(root, folder, prefix + osp.basename(image['file_name'])))
    for ann_file, folder in annotations.items():
        dataset = dict(
            images=[dict(image, file_name=images[folder] + osp.basename(image['file_name']))
                    for image in source['images']],
            annotations=[dict(a, category_id=category_ids[names[a['category_id']]])
                         for a in source['annotations'] if names[a['category_id']] in classes],
            categories=[dict(id=i, name=name) for name, i in category_ids.items()])
        os.makedirs(osp.dirname(osp.join(root, ann_file)), exist_ok=True)
        with open(osp.join(root, ann_file), 'w') as f:
            json.dump(dataset, f)
    return root


def write_voc_segmentation(root: str) -> str:
    """Lay out the labelme VOC class masks as VOC2012 with the SBD ``aug`` split: train
    (2 images) + aug (the third), val (all 3).

    Args:
        root: An empty folder.

    Returns:
        The VOC2012 folder.
    """
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    for name in IMAGES:
        copy(osp.join(INSTANCE_VOC, 'JPEGImages', f'{name}.jpg'),
             osp.join(voc, 'JPEGImages', f'{name}.jpg'))
        for folder in ('SegmentationClass', 'SegmentationClassAug'):
            copy(osp.join(INSTANCE_VOC, 'SegmentationClassPNG', f'{name}.png'),
                 osp.join(voc, folder, f'{name}.png'))
    lists = osp.join(voc, 'ImageSets', 'Segmentation')
    write_list(osp.join(lists, 'train.txt'), IMAGES[:2])
    write_list(osp.join(lists, 'aug.txt'), IMAGES[2:])
    write_list(osp.join(lists, 'val.txt'), IMAGES)
    return voc


def write_cityscapes_segmentation(root: str) -> str:
    """Lay out the labelme VOC class masks as Cityscapes (``leftImg8bit`` PNGs and
    ``gtFine`` train-id maps, train and val both holding the 3 images). VOC classes that
    Cityscapes has (person, car, bus, bicycle, motorbike, train) get their Cityscapes train
    ids; every other pixel is ignored (255).

    Args:
        root: The dataset root to create.

    Returns:
        ``root``.
    """
    lookup = np.full(256, 255, dtype=np.uint8)
    for voc_index, train_id in VOC_TO_CITYSCAPES_TRAIN_IDS.items():
        lookup[voc_index] = train_id
    for split in ('train', 'val'):
        for name in IMAGES:
            image = Image.open(osp.join(INSTANCE_VOC, 'JPEGImages', f'{name}.jpg'))
            save(image, osp.join(root, 'leftImg8bit', split, 'labelme',
                                 f'{name}_leftImg8bit.png'))
            classes = np.array(Image.open(osp.join(INSTANCE_VOC, 'SegmentationClassPNG',
                                                   f'{name}.png')))
            save(Image.fromarray(lookup[classes]),
                 osp.join(root, 'gtFine', split, 'labelme', f'{name}_gtFine_labelTrainIds.png'))
    return root


def copy(src: str, dst: str) -> None:
    """Copy a file, creating the destination folder.

    Args:
        src: Source file.
        dst: Destination file.
    """
    os.makedirs(osp.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)


def save(image: Image.Image, path: str) -> None:
    """Save an image, creating its folder.

    Args:
        image: The image.
        path: Destination (its suffix picks the format).
    """
    os.makedirs(osp.dirname(path), exist_ok=True)
    image.save(path)


def write_list(path: str, names: Sequence[str]) -> None:
    """Write an image-set list, one name a line.

    Args:
        path: The list file.
        names: Image names without suffix.
    """
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{name}\n' for name in names))


def walk(node: object, visit: Callable[[dict], None]) -> None:
    """Call ``visit`` on every dict inside a config tree (depth first, parents first).

    Args:
        node: A config value.
        visit: Called with each dict; it may change the dict in place.
    """
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            walk(value, visit)
    elif isinstance(node, (list, tuple)):
        for value in node:
            walk(value, visit)


def reroot(node: dict, old: str, new: str) -> None:
    """Replace the leading ``old`` of every string value in a config tree by ``new`` (data
    roots and the annotation files evaluators read).

    Args:
        node: The config dict.
        old: The config's data root.
        new: The test's data root.
    """
    def visit(d: dict) -> None:
        for key, value in d.items():
            if isinstance(value, str) and value.startswith(old):
                d[key] = new + value[len(old):]
    walk(node, visit)


def sync_bn_to_bn(node: dict) -> None:
    """Replace every SyncBN norm config by BN.

    Args:
        node: The config dict.
    """
    def visit(d: dict) -> None:
        if d.get('type') == 'SyncBN':
            d['type'] = 'BN'
    walk(node, visit)


def shrink_transform(transform: dict, scale: Tuple[int, int],
                     crop: Tuple[int, int]) -> dict:
    """A small-image version of a data transform.

    Args:
        transform: The config's transform.
        scale: (long, short) side bound of resized images.
        crop: Crop (and pad) size of segmentation training.

    Returns:
        The transform resizing to ``scale`` / cropping to ``crop``, or the transform itself.
    """
    kind = transform.get('type')
    if kind in ('Resize', 'RandomChoiceResize') or (
            kind == 'RandomResize' and 'ratio_range' not in transform):
        return dict(type='Resize', scale=scale, keep_ratio=True)
    if kind == 'RandomResize':
        return dict(transform, scale=scale)
    if kind == 'RandomCrop':
        return dict(transform, crop_size=crop)
    if kind == 'Pad' and 'size' in transform:
        return dict(transform, size=crop)
    return transform


def fewer_regions(model: dict, regions: int) -> None:
    """Let a two-stage detector sample and propose few regions (R50-C4 runs res5 on each).

    Args:
        model: The model config, changed in place.
        regions: Regions sampled per image for the RoI head in training; proposals per image
            are twice that.
    """
    train_cfg, test_cfg = model.get('train_cfg') or {}, model.get('test_cfg') or {}
    if 'rcnn' in train_cfg:
        train_cfg['rcnn']['sampler']['num'] = regions
        train_cfg['rpn_proposal'].update(nms_pre=4 * regions, max_per_img=2 * regions)
    if 'rpn' in test_cfg:
        test_cfg['rpn'].update(nms_pre=4 * regions, max_per_img=2 * regions)


def tiny_config(config: str, old_root: str, new_root: str, iterations: int = 2,
                scale: Tuple[int, int] = (192, 128), crop: Tuple[int, int] = (128, 128),
                batch_size: int = 2, regions: int = 16) -> dict:
    """A CPU-sized copy of a benchmark config, as a dict.

    Args:
        config: The benchmark config.
        old_root: Its data root.
        new_root: The test data root replacing it.
        iterations: Training iterations of iteration-based schedules (epoch-based ones run
            one epoch); validation runs at the end.
        scale: (long, short) side bound of resized images.
        crop: Crop size of segmentation training (and of sliding-window inference).
        batch_size: Training images per batch.
        regions: Regions a detector samples per image (see :func:`fewer_regions`).

    Returns:
        The shrunk config, with a fixed seed.
    """
    cfg = Config.fromfile(config).to_dict()
    reroot(cfg, old_root, new_root)
    sync_bn_to_bn(cfg)

    def shrink_datasets(d: dict) -> None:
        if d.get('type') == 'RepeatDataset':  # one pass over the few test images
            d.pop('times')
            d.update(d.pop('dataset'))
        if isinstance(d.get('pipeline'), list):
            d['pipeline'] = [shrink_transform(t, scale, crop) for t in d['pipeline']]
    walk(cfg, shrink_datasets)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
    cfg['train_dataloader']['batch_size'] = batch_size
    if cfg['train_cfg']['type'] == 'IterBasedTrainLoop':
        cfg['train_cfg'].update(max_iters=iterations, val_interval=iterations)
    else:
        cfg['train_cfg'].update(max_epochs=1, val_interval=1)
    fewer_regions(cfg['model'], regions)
    if 'size' in cfg['model']['data_preprocessor']:
        cfg['model']['data_preprocessor']['size'] = crop
    if cfg['model'].get('test_cfg', {}).get('mode') == 'slide':
        cfg['model']['test_cfg'].update(crop_size=crop, stride=(crop[0] // 2, crop[1] // 2))
    cfg['default_hooks']['logger']['interval'] = 1
    cfg['default_hooks']['checkpoint'].update(interval=10**6, save_last=False)
    cfg['env_cfg']['cudnn_benchmark'] = False
    # a fixed seed: two iterations on a few images from a random start can end with no
    # detection at all, and COCO metrics are then not logged (a flaky test, not a broken tool)
    cfg['randomness'] = dict(seed=0)
    return cfg


def write_config(cfg: dict, path: str) -> str:
    """Write a config dict as a python config file.

    Args:
        cfg: The config.
        path: Destination ``.py`` file.

    Returns:
        ``path``.
    """
    Config(cfg).dump(path)
    return path


def run_wrapper(config: str, pretrain: str, work_dir: str, gpus: int = 1,
                extra: Optional[List[str]] = None) -> subprocess.CompletedProcess:
    """Run ``tools/benchmarks/downstream_train.sh`` in a subprocess (one thread per process).

    Args:
        config: The config file (mmdet or mmseg).
        pretrain: The pretrained file.
        work_dir: The work dir.
        gpus: Number of processes (gloo DDP on CPU when > 1).
        extra: More wrapper arguments.

    Returns:
        The finished process, with its output captured.
    """
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PORT=str(free_port()))
    cmd = ['bash', osp.join(ROOT, 'tools', 'benchmarks', 'downstream_train.sh'), config,
           pretrain, str(gpus), '--work-dir', work_dir, *(extra or [])]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def succeeded(result: subprocess.CompletedProcess) -> str:
    """The output of a run that must have succeeded.

    Args:
        result: The finished process.

    Returns:
        Its stdout and stderr.

    Raises:
        AssertionError: If it failed; the message holds the end of its output.
    """
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout + result.stderr


def logged_metrics(work_dir: str) -> Dict[str, float]:
    """The validation metrics a run logged (mmengine's ``vis_data/scalars.json``).

    Args:
        work_dir: The run's work dir.

    Returns:
        The last logged value of each scalar.
    """
    metrics = {}
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                metrics.update(json.loads(line))
    return metrics


def run_log(work_dir: str) -> str:
    """The text log of a run.

    Args:
        work_dir: The run's work dir.

    Returns:
        The contents of its ``<timestamp>/<timestamp>.log`` files.
    """
    return ''.join(open(path).read() for path in glob.glob(osp.join(work_dir, '*', '*.log')))
