"""Experiment trackers: configs/_base_/wandb.py and configs/_base_/mlflow.py on a tiny real
pretraining run (the 20 sample ImageNet images), W&B offline and MLflow to a local file store,
both read back here; a tracker whose package is missing stops ``tools/train.py`` at start-up
with one line naming what to install.
"""
import glob
import importlib.util
import json
import os.path as osp
import runpy
import struct
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT
from mmmoco.apis.config_checks import ConfigCheckError, check_vis_backend_packages
from tiny_run import build_runner, tiny_config, tiny_images  # noqa: F401

WANDB = osp.join(ROOT, 'configs', '_base_', 'wandb.py')
MLFLOW = osp.join(ROOT, 'configs', '_base_', 'mlflow.py')
RECIPE = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')


def tracked_run(data_root: str, work_dir: str, tracker: str, **backend_options) -> list:
    """Train the tiny recipe for 2 epochs (10 logged iterations) with a tracker's _base_ file.

    Args:
        data_root: The tiny images.
        work_dir: The run's work dir.
        tracker: ``configs/_base_/wandb.py`` or ``mlflow.py``.
        **backend_options: Set on the tracker's backend (the second of ``vis_backends``).

    Returns:
        The records of the run's ``scalars.json`` that carry a loss.
    """
    cfg = tiny_config(data_root, work_dir, epochs=2)
    cfg.visualizer = Config.fromfile(tracker).visualizer
    cfg.visualizer.vis_backends[1].update(backend_options)
    build_runner(cfg).train()
    [scalars] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars, encoding='utf-8') as f:
        records = [json.loads(line) for line in f]
    return [record for record in records if 'loss' in record]


def wandb_records(run_dir: str) -> list:
    """The records of an offline W&B run, read from its transaction log (``run-*.wandb``).

    The log is W&B's LevelDB-style file (wandb 0.31 has no Python reader): a 7-byte header
    (``:W&B``, magic, version), then 32 KiB blocks of chunks, each a 7-byte header (CRC,
    little-endian uint16 length, type: 1 full, 2 first, 3 middle, 4 last) and its bytes; a
    block's tail shorter than a chunk header is padding. A record is a serialized
    ``wandb_internal_pb2.Record``.

    Args:
        run_dir: The ``offline-run-*`` folder.

    Returns:
        The records, in order.
    """
    from wandb.proto import wandb_internal_pb2
    [path] = glob.glob(osp.join(run_dir, 'run-*.wandb'))
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:4] == b':W&B', f'{path} is not a W&B transaction log'
    block, header = 32 * 1024, 7
    pos, pending, records = header, b'', []
    while pos + header <= len(data):
        if block - pos % block < header:  # padding at the end of a block
            pos += block - pos % block
            continue
        length, kind = struct.unpack('<HB', data[pos + 4:pos + header])
        pending += data[pos + header:pos + header + length]
        pos += header + length
        if kind in (1, 4):  # full, last
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b''
    return records


def wandb_rows(records: list, kind: str) -> list:
    """The items of the records of one kind as dicts (``history``: one per ``wandb.log``).

    Args:
        records: From :func:`wandb_records`.
        kind: ``'history'``, ``'config'`` (its ``update`` items) or ``'summary'``.

    Returns:
        One ``{key: value}`` dict per record of that kind.
    """
    rows = []
    for record in records:
        if record.WhichOneof('record_type') == kind:
            items = getattr(record, kind)
            items = items.update if kind != 'history' else items.item
            rows.append({item.key or '/'.join(item.nested_key): json.loads(item.value_json)
                         for item in items})
    return rows


def test_wandb_offline_run_holds_the_scalars(tiny_images, tmp_path, monkeypatch):
    pytest.importorskip('wandb')
    for name in ('DIR', 'DATA_DIR', 'CACHE_DIR', 'CONFIG_DIR', 'ARTIFACT_DIR'):
        monkeypatch.setenv(f'WANDB_{name}', str(tmp_path / 'wandb_home' / name.lower()))
    monkeypatch.setenv('WANDB_MODE', 'offline')
    monkeypatch.setenv('WANDB_SILENT', 'true')
    work_dir = str(tmp_path / 'work')
    logged = tracked_run(tiny_images, work_dir, WANDB)
    [run_dir] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'wandb', 'offline-run-*'))
    records = wandb_records(run_dir)
    rows = [row for row in wandb_rows(records, 'history') if 'loss' in row]
    assert len(logged) == 10
    assert [row['loss'] for row in rows] == pytest.approx([r['loss'] for r in logged])
    assert [row['lr'] for row in rows] == pytest.approx([r['lr'] for r in logged])
    config = {key: value for row in wandb_rows(records, 'config') for key, value in row.items()}
    assert config['model']['type'] == 'MoCo' and config['model']['queue']['queue_len'] == 16
    # no code artifact of the working directory (mmengine's WandbVisBackend makes one)
    assert [r for r in records if r.WhichOneof('record_type') == 'artifact'] == []


def test_mlflow_file_store_holds_the_scalars(tiny_images, tmp_path, monkeypatch):
    pytest.importorskip('mlflow')
    from mlflow.tracking import MlflowClient
    store = f'file://{tmp_path / "mlruns"}'
    monkeypatch.setenv('MLFLOW_TRACKING_URI', store)  # the config reads it
    monkeypatch.setenv('MLFLOW_ALLOW_FILE_STORE', 'true')  # MLflow 3 refuses file stores
    logged = tracked_run(tiny_images, str(tmp_path / 'work'), MLFLOW)
    client = MlflowClient(tracking_uri=store)
    [run] = client.search_runs([client.get_experiment_by_name('mmmoco').experiment_id])
    assert run.info.status == 'FINISHED'
    losses = client.get_metric_history(run.info.run_id, 'loss')
    assert len(logged) == 10
    assert [(m.step, m.value) for m in losses] == [
        (r['step'], pytest.approx(r['loss'])) for r in logged]
    assert run.data.params['model.type'] == 'MoCo'
    assert run.data.params['model.queue.queue_len'] == '16'
    artifacts = {info.path for info in client.list_artifacts(run.info.run_id)}
    assert 'config.py' in artifacts


def test_mlflow_store_defaults_to_a_database_in_work_dirs(monkeypatch):
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False)
    backend = Config.fromfile(MLFLOW).visualizer.vis_backends[1]
    assert backend.tracking_uri == 'sqlite:///work_dirs/mlflow.db'
    monkeypatch.setenv('MLFLOW_TRACKING_URI', 'http://tracking:5000')
    assert Config.fromfile(MLFLOW).visualizer.vis_backends[1].tracking_uri == (
        'http://tracking:5000')


@pytest.mark.parametrize('tracker, backend, package', [
    (WANDB, 'WandbCodeRootVisBackend', 'wandb'),
    (MLFLOW, 'MLflowVisBackend', 'mlflow'),
])
def test_missing_tracker_package_is_named(tracker, backend, package, monkeypatch):
    """Both shipped trackers map to their package (simulated missing: the packages are
    installed for the tests above)."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *args: None if name == package else real_find_spec(name))
    cfg = Config(dict(visualizer=Config.fromfile(tracker).visualizer))
    with pytest.raises(ConfigCheckError) as refused:
        check_vis_backend_packages(cfg)
    assert str(refused.value) == (f'visualizer.vis_backends.1 ({backend}) needs the {package} '
                                  f'package, which is not installed: pip install {package}')


def test_present_packages_and_plain_backends_pass():
    cfg = Config(dict(visualizer=dict(type='Visualizer', vis_backends=[
        dict(type='LocalVisBackend'), dict(type='mmengine.LocalVisBackend')])))
    check_vis_backend_packages(cfg)
    check_vis_backend_packages(Config(dict()))


def test_train_stops_at_start_up_naming_a_missing_package(tmp_path, monkeypatch):
    """A really missing package (clearml is not a dependency): tools/train.py exits with one
    line (SystemExit with a message: no traceback) before building anything."""
    if importlib.util.find_spec('clearml') is not None:
        pytest.skip('clearml is installed here')
    config = tmp_path / 'clearml_run.py'
    config.write_text(f"_base_ = [{RECIPE!r}]\nvisualizer = dict(type='Visualizer', "
                      "vis_backends=[dict(type='ClearMLVisBackend')])\n")
    monkeypatch.setattr(sys, 'argv', ['train.py', str(config), '--work-dir',
                                      str(tmp_path / 'work')])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(osp.join(ROOT, 'tools', 'train.py'), run_name='__main__')
    assert stopped.value.code == (
        f'{config}: visualizer.vis_backends.0 (ClearMLVisBackend) needs the clearml package, '
        'which is not installed: pip install clearml')
    assert not osp.exists(tmp_path / 'work')
