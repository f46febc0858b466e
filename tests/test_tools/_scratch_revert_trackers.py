import glob, os.path as osp, runpy, sys
import pytest
from test_trackers import *  # noqa
from test_trackers import tracked_run, wandb_records, WANDB, RECIPE
import mmmoco.apis.config_checks as cc

def test_revert_wandb_backend(tiny_images, tmp_path, monkeypatch):
    for name in ('DIR', 'DATA_DIR', 'CACHE_DIR', 'CONFIG_DIR', 'ARTIFACT_DIR'):
        monkeypatch.setenv(f'WANDB_{name}', str(tmp_path / 'wandb_home' / name.lower()))
    monkeypatch.setenv('WANDB_MODE', 'offline')
    work_dir = str(tmp_path / 'work')
    tracked_run(tiny_images, work_dir, WANDB, type='WandbVisBackend')
    [run_dir] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'wandb', 'offline-run-*'))
    records = wandb_records(run_dir)
    arts = [r for r in records if r.WhichOneof('record_type') == 'artifact']
    print('ARTIFACT RECORDS', len(arts))
    assert arts == []

def test_revert_check(tmp_path, monkeypatch):
    monkeypatch.setattr(cc, 'check_vis_backend_packages', lambda cfg: None)
    config = tmp_path / 'clearml_run.py'
    config.write_text(f"_base_ = [{RECIPE!r}]\nvisualizer = dict(type='Visualizer', vis_backends=[dict(type='ClearMLVisBackend')])\n")
    monkeypatch.setattr(sys, 'argv', ['train.py', str(config), '--work-dir', str(tmp_path / 'work')])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(osp.join(ROOT, 'tools', 'train.py'), run_name='__main__')
