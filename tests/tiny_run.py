"""Tiny, fast MoCo training set-ups for the reliability tests (runners built in-process).

Imported by the test modules (fixtures included), not a conftest: tests/conftest.py owns that name.
"""
import os.path as osp
import uuid
from typing import Any

import cv2
import pytest
import torch
from mmengine.config import Config

from conftest import ROOT

RECIPE = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')


@pytest.fixture(scope='session')
def tiny_images(sample_imagenet, tmp_path_factory) -> str:
    """The 20 real sample ImageNet images, shrunk to 24x24 PNGs in class folders.

    Returns:
        The data root (images under ``train/<class>/``).
    """
    import glob
    root = tmp_path_factory.mktemp('tiny_images')
    for path in sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*'))):
        image = cv2.resize(cv2.imread(path), (24, 24), interpolation=cv2.INTER_AREA)
        out = root / 'train' / osp.basename(osp.dirname(path))
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / (osp.splitext(osp.basename(path))[0] + '.png')), image)
    return str(root)


def set_everywhere(cfg: Any, key: str, value: Any) -> int:
    """Set ``key`` in every dict nested in ``cfg`` that has it (model layout independent).

    Returns:
        How many places were set.
    """
    count = 0
    if isinstance(cfg, dict):
        for name, item in cfg.items():
            if name == key:
                cfg[name] = value
                count += 1
            else:
                count += set_everywhere(item, key, value)
    elif isinstance(cfg, (list, tuple)):
        count += sum(set_everywhere(item, key, value) for item in cfg)
    return count


def tiny_config(data_root: str, work_dir: str, epochs: int = 2, batch_size: int = 4,
                queue_len: int = 16, num_workers: int = 0, **options) -> Config:
    """The Fashion-MNIST MoCo v2 recipe shrunk to a width-4 ResNet-18 on 16-px crops.

    Args:
        data_root: Folder with ``train/<class>/*.png``.
        work_dir: The run's work dir.
        epochs: Training epochs (20 images / batch 4 = 5 iterations each).
        batch_size: Images per batch.
        queue_len: Length of the key queue.
        num_workers: Data loader workers.
        **options: Further ``merge_from_dict`` options (dotted keys allowed).

    Returns:
        The config, with a unique experiment name.
    """
    cfg = Config.fromfile(RECIPE)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny-{uuid.uuid4().hex[:8]}'
    cfg.model.backbone.base_channels = 4
    cfg.model.neck.in_channels = 32
    cfg.model.neck.hidden_channels = 32
    assert set_everywhere(cfg.model, 'queue_len', queue_len) >= 1
    cfg.model.single_device_bn_splits = 2
    loader = cfg.train_dataloader
    loader.batch_size = batch_size
    loader.num_workers = num_workers
    loader.persistent_workers = False
    loader.dataset.data_root = data_root
    loader.dataset.data_prefix = 'train'
    loader.dataset.ann_file = ''
    loader.dataset.pipeline[1].transforms[0].size = 16
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler[0].T_max = epochs
    cfg.param_scheduler[0].end = epochs
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=-1)
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    cfg.merge_from_dict(options)
    return cfg


def tiny_cfg_options(data_root: str) -> list:
    """``--cfg-options`` that shrink :data:`RECIPE` on a command line as :func:`tiny_config`
    does in-process (width-4 ResNet-18, 16-px crops, batches of 4, queue 16), for one epoch
    with a checkpoint after it.

    Args:
        data_root: Folder with ``train/<class>/*.png``.

    Returns:
        ``['--cfg-options', 'KEY=VALUE', ...]``.
    """
    loader = 'train_dataloader'
    return ['--cfg-options', f'{loader}.dataset.data_root={data_root}',
            f'{loader}.dataset.data_prefix=train', f'{loader}.dataset.ann_file=',
            f'{loader}.dataset.pipeline.1.transforms.0.size=16', f'{loader}.batch_size=4',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
            'model.backbone.base_channels=4', 'model.neck.in_channels=32',
            'model.neck.hidden_channels=32', 'model.queue.queue_len=16',
            'model.single_device_bn_splits=2', 'train_cfg.max_epochs=1',
            'param_scheduler.0.T_max=1', 'param_scheduler.0.end=1',
            'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']


def build_runner(cfg: Config):
    """A MoCoRunner from ``cfg``."""
    from mmmoco.engine.runner import MoCoRunner
    return MoCoRunner.from_cfg(cfg)


def model_state(path: str) -> dict:
    """The state dict of a checkpoint file (weights-only loading)."""
    from mmmoco.utils import load_checkpoint_file
    return load_checkpoint_file(path)['state_dict']


def assert_same_state(a: dict, b: dict) -> None:
    """Bit-identical state dicts (weights, key encoder, queue and pointer)."""
    assert a.keys() == b.keys()
    assert any('queue' in key for key in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


_RUNS: dict = {}


def trained_run(data_root: str, tmp_path_factory, epochs: int = 2) -> str:
    """The work dir of a finished tiny run, trained once per session for each number of
    epochs (the test modules share it).

    A checkpoint after every epoch, ``max_keep_ckpts=2`` (so the checkpoint hook tracks what
    it keeps and a resumed run rotates them): ``epoch_1.pth``, ``epoch_2.pth``.

    Args:
        data_root: Folder with ``train/<class>/*.png``.
        tmp_path_factory: pytest's factory, for the work dir.
        epochs: Training epochs (5 iterations each), 1 or 2.

    Returns:
        The work dir; tests must copy it before changing anything in it.
    """
    if epochs not in _RUNS:
        work_dir = str(tmp_path_factory.mktemp('trained'))
        cfg = tiny_config(data_root, work_dir, epochs=epochs)
        cfg.default_hooks.checkpoint.max_keep_ckpts = 2
        build_runner(cfg).train()
        _RUNS[epochs] = work_dir
    return _RUNS[epochs]


def copied_run(data_root: str, tmp_path_factory, work_dir: str) -> str:
    """A copy of the finished 2-epoch :func:`trained_run` whose ``last_checkpoint`` names the
    copy's ``epoch_2.pth`` (as the run would have written it there).

    Args:
        data_root: Folder with ``train/<class>/*.png``.
        tmp_path_factory: pytest's factory, for the trained run.
        work_dir: Where the copy goes (must not exist).

    Returns:
        ``work_dir``.
    """
    import shutil
    shutil.copytree(trained_run(data_root, tmp_path_factory), work_dir)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w', encoding='utf-8') as f:
        f.write(osp.join(work_dir, 'epoch_2.pth'))
    return work_dir


def log_text(work_dir: str) -> str:
    """Everything the runners wrote to the log files of a work dir."""
    import glob
    text = ''
    for path in sorted(glob.glob(osp.join(work_dir, '*', '*.log'))):
        with open(path, encoding='utf-8') as f:
            text += f.read()
    return text
