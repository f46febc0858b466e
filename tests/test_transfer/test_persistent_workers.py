"""The transfer wrapper turns off the libraries' persistent_workers when num_workers=0."""
import argparse
import os.path as osp

import pytest
from mmengine.config import Config

from mmmoco.apis.transfer import build_config, drop_persistent_workers
from .helpers import ROOT

SEG_CONFIG = osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation', 'voc12aug',
                      'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')


def loader(num_workers: int, persistent_workers: bool) -> dict:
    """A dataloader config with only the keys the check reads."""
    return dict(num_workers=num_workers, persistent_workers=persistent_workers, batch_size=2)


def test_only_loaders_without_workers_change():
    cfg = Config(dict(train_dataloader=loader(0, True), val_dataloader=loader(2, True),
                      test_dataloader=loader(0, False)))
    assert drop_persistent_workers(cfg) == ['train_dataloader']
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True
    assert cfg.test_dataloader.persistent_workers is False


def test_wrapper_config_with_num_workers_0_builds_a_loader_pytorch_accepts(tmp_path):
    """mmseg's config sets persistent_workers=True; the user only says num_workers=0."""
    pytest.importorskip('mmseg')
    args = argparse.Namespace(
        config=SEG_CONFIG, launcher='none', work_dir=str(tmp_path), amp=False, verbose=False,
        resume=None,
        cfg_options={'train_dataloader.num_workers': 0, 'val_dataloader.num_workers': 0})
    source = Config.fromfile(SEG_CONFIG)
    assert source.train_dataloader.persistent_workers is True
    cfg = build_config(args)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is False
