"""The demo's results table (tools/benchmarks/demo_table.py)."""
import json
import os
import os.path as osp
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
import demo_table  # noqa: E402


def write_results(work_dir: str, name: str, knn20: float, knn200: float, linear: float) -> None:
    """Write the kNN and linear result files one backbone's evaluation leaves behind."""
    os.makedirs(osp.join(work_dir, f'knn_{name}'))
    os.makedirs(osp.join(work_dir, f'linear_{name}'))
    knn = {'k=20': {'top1': knn20, 'top5': 99.0}, 'k=200': {'top1': knn200, 'top5': 99.0}}
    with open(osp.join(work_dir, f'knn_{name}', 'knn_results.json'), 'w') as f:
        json.dump(dict(pretrain=None, results=knn), f)
    with open(osp.join(work_dir, f'linear_{name}', 'metrics.json'), 'w') as f:
        json.dump({'accuracy/top1': linear, 'accuracy/top5': 99.0}, f)


def test_table_rows_and_gain(tmp_path):
    write_results(str(tmp_path), 'random', 74.8, 64.4, 64.9)
    write_results(str(tmp_path), 'mocov2', 80.25, 76.0, 78.5)
    lines = demo_table.table(str(tmp_path)).splitlines()
    assert lines[2] == '| random init | 74.80 | 64.40 | 64.90 |'
    assert lines[3] == '| MoCo v2 pretrained | 80.25 | 76.00 | 78.50 |'
    assert lines[4] == '| gain of pretraining | +5.45 | +11.60 | +13.60 |'


def test_missing_results_are_named(tmp_path):
    write_results(str(tmp_path), 'random', 74.8, 64.4, 64.9)
    with pytest.raises(SystemExit, match='knn_mocov2'):
        demo_table.table(str(tmp_path))
