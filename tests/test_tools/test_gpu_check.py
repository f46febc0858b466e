"""tools/perf/gpu_check.py: no measurement without CUDA, the table and JSON, the time budget,
and every measurement once on the CPU at tiny sizes (--smoke; the real sizes need a GPU)."""
import json
import os
import os.path as osp
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'perf'))
import gpu_check  # noqa: E402

FAKE_STEP = dict(batch_size=64, variants=dict(
    floor=dict(median_ms=200.0, paired_ratio=1.0, cuda_peak_mib=9000.0),
    framework=dict(median_ms=250.0, paired_ratio=1.21, cuda_peak_mib=12000.0)))


def _rows(path):
    with open(path) as file:
        return json.load(file)


def test_without_cuda_it_says_so_and_measures_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(gpu_check, 'run_checks', lambda *args: pytest.fail('measured'))
    out = tmp_path / 'gpu_check.json'
    assert gpu_check.main(['--out', str(out)]) == 0
    assert 'CUDA is not available on this machine: nothing was measured' in capsys.readouterr().out
    assert not out.exists()


def test_step_rows_table_and_json_from_a_fake_measurement(tmp_path):
    single = gpu_check.step_row(FAKE_STEP, 'R50 step', 1)
    assert single['images/s'] == pytest.approx(256.0) and single['floor images/s'] == 320.0
    assert (single['ratio to floor'], single['peak MiB']) == (1.21, 12000.0)
    ddp = gpu_check.step_row(FAKE_STEP, 'R50 step, DDP', 2)
    assert ddp['batch'] == 128 and ddp['images/s'] == pytest.approx(512.0)
    cpu = gpu_check.step_row(dict(FAKE_STEP, variants={
        name: dict(v, cuda_peak_mib=0.0) for name, v in FAKE_STEP['variants'].items()}), 'x', 1)
    rows = [dict(single, seconds=12.345), ddp, cpu,
            {'measurement': 'loader', 'devices': 1, 'batch': 64, 'images/s': 1234.56},
            {'measurement': 'DDP on 2 GPUs', 'skipped': 'over --budget-s 420'}]
    lines = gpu_check.format_table(rows).splitlines()
    assert lines[0] == '| ' + ' | '.join(gpu_check.COLUMNS) + ' |'
    assert lines[2] == ('| R50 step | 1 | 64 | 256.0 | 320.0 | 1.210 | 12000.0 | 9000.0 '
                        '| 12.3 |')
    assert lines[4].startswith('| x | 1 | 64 | 256.0 | 320.0 | 1.210 | - | - |')
    assert lines[5] == '| loader | 1 | 64 | 1234.6 | - | - | - | - | - |'
    assert lines[6].startswith('| DDP on 2 GPUs (skipped: over --budget-s 420) | - |')
    out = tmp_path / 'sub' / 'gpu_check.json'
    gpu_check.write_json(str(out), rows, gpu_check.parse_args(['--smoke']))
    written = _rows(out)
    assert written['rows'] == rows and written['settings']['smoke'] is True
    assert set(written['machine']) >= {'torch', 'cuda', 'cpus', 'gpus'}


def test_the_budget_skips_measurements(sample_imagenet, tmp_path, capsys):
    out = tmp_path / 'gpu_check.json'
    assert gpu_check.main(['--smoke', '--budget-s', '0', '--images', sample_imagenet,
                           '--out', str(out)]) == 0
    rows = _rows(out)['rows']
    assert rows and all(row['skipped'] == 'over --budget-s 0' for row in rows)
    assert '(skipped: over --budget-s 0)' in capsys.readouterr().out


def test_rank_environment_is_restored(monkeypatch):
    monkeypatch.setenv('RANK', '5')
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    with pytest.raises(RuntimeError):
        with gpu_check.rank_environment(1, 2):
            assert (os.environ['RANK'], os.environ['WORLD_SIZE']) == ('1', '2')
            raise RuntimeError
    assert os.environ['RANK'] == '5' and 'WORLD_SIZE' not in os.environ


def test_smoke_runs_every_measurement_once_on_the_cpu(sample_imagenet, tmp_path, capsys,
                                                      monkeypatch):
    """The steps against their floors (a ResNet-18 and a 2-block ViT), the loader with the
    batched augmentation, the augmentation alone, and the DDP path as one-process gloo groups
    (one per step, through benchmark_step's --launcher pytorch, and one for the loaders)."""
    groups, init = [], torch.distributed.init_process_group

    def spy(backend, *args, **kwargs):
        groups.append((backend, os.environ['WORLD_SIZE'], os.environ['MASTER_PORT']))
        return init(backend, *args, **kwargs)
    monkeypatch.setattr(torch.distributed, 'init_process_group', spy)
    rank_before = os.environ.get('RANK')
    out = tmp_path / 'gpu_check.json'
    assert gpu_check.main(['--smoke', '--images', sample_imagenet, '--out', str(out)]) == 0
    rows = _rows(out)['rows']
    names = [row['measurement'] for row in rows]
    steps = list(gpu_check.STEPS)
    assert names[:2] == steps and names[4:6] == [f'{name}, DDP' for name in steps]
    assert names[2].startswith('loader, 1 worker(s)') and names[6].startswith('loader, 2 ')
    assert names[3].startswith('batched augmentation alone')
    for row in rows:
        assert row['images/s'] > 0 and row['seconds'] > 0, row
    for row in rows[:2] + rows[4:6]:
        assert row['floor images/s'] > 0 and row['ratio to floor'] > 0
        assert row['peak MiB'] is None  # no CUDA peak on the CPU
    assert 'not a measurement' in capsys.readouterr().out
    assert [group[:2] for group in groups] == [('gloo', '1')] * 3
    assert len({group[2] for group in groups}) == 3  # a port per group
    assert not torch.distributed.is_initialized() and os.environ.get('RANK') == rank_before

