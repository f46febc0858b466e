"""The demo's report (tools/benchmarks/demo_table.py): baselines, seeds, gains and the plot."""
import json
import os
import os.path as osp
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
import demo_table  # noqa: E402


def write_results(work_dir: str, name: str, knn20: float, knn200: float, probe: float) -> None:
    """Write the results file knn_eval.py --linear-probe leaves in eval/<name>/."""
    folder = osp.join(work_dir, 'eval', name)
    os.makedirs(folder)
    knn = {'k=20': {'top1': knn20, 'top5': 99.0}, 'k=200': {'top1': knn200, 'top5': 99.0}}
    probe_result = dict(top1=probe, weight_decay=1e-3, cv_top1=probe - 1)
    with open(osp.join(folder, 'knn_results.json'), 'w') as f:
        json.dump(dict(pretrain=None, results=knn, linear_probe=probe_result), f)


def write_curve(work_dir: str, seed: int, points) -> None:
    """Write a vis_data/scalars.json with KNNEvalHook records among ordinary ones."""
    folder = osp.join(work_dir, f'pretrain_seed{seed}', '20261130_000000', 'vis_data')
    os.makedirs(folder)
    with open(osp.join(folder, 'scalars.json'), 'w') as f:
        for epoch, value in points:
            f.write(json.dumps({'loss': 4.0, 'epoch': epoch, 'step': epoch * 10}) + '\n')
            f.write(json.dumps({'knn/top1_k20': value, 'epoch': epoch, 'step': epoch}) + '\n')


def test_table_with_seeds_baselines_and_gain_over_the_best_baseline(tmp_path):
    work = str(tmp_path)
    write_results(work, 'pixels', 80.0, 75.0, 83.0)
    write_results(work, 'random_seed0', 74.8, 64.4, 78.0)
    write_results(work, 'moco_seed0', 84.0, 80.0, 86.0)
    write_results(work, 'moco_seed1', 86.0, 82.0, 88.0)
    text, means = demo_table.table(work)
    lines = text.splitlines()
    assert lines[2] == '| raw pixels (784-d, normalised) | 80.00 | 75.00 | 83.00 |'
    assert lines[3] == '| random init (1 seed(s)) | 74.80 | 64.40 | 78.00 |'
    # sample standard deviation of (84, 86) is sqrt(2)
    assert lines[4] == '| MoCo pretrained (2 seed(s)) | 85.00 ± 1.41 | 81.00 ± 1.41 | 87.00 ± 1.41 |'
    # the best baseline is pixels in every column here
    assert lines[5] == '| gain over the best baseline | +5.00 | +6.00 | +4.00 |'
    assert means['moco'] == [85.0, 81.0, 87.0]


def test_gain_is_taken_over_random_init_where_it_beats_pixels(tmp_path):
    work = str(tmp_path)
    write_results(work, 'pixels', 70.0, 60.0, 70.0)
    write_results(work, 'random_seed0', 75.0, 65.0, 72.0)
    write_results(work, 'moco_seed0', 80.0, 70.0, 71.0)
    text, _ = demo_table.table(work)
    assert text.splitlines()[-1] == '| gain over the best baseline | +5.00 | +5.00 | -1.00 |'


def test_missing_results_and_missing_probe_are_named(tmp_path):
    work = str(tmp_path)
    write_results(work, 'random_seed0', 74.8, 64.4, 78.0)
    write_results(work, 'moco_seed0', 84.0, 80.0, 86.0)
    with pytest.raises(SystemExit, match=r'eval/pixels/knn_results.json'):
        demo_table.table(work)
    write_results(work, 'pixels', 80.0, 75.0, 83.0)
    path = osp.join(work, 'eval', 'pixels', 'knn_results.json')
    with open(path) as f:
        content = json.load(f)
    del content['linear_probe']
    with open(path, 'w') as f:
        json.dump(content, f)
    with pytest.raises(SystemExit, match='linear probe'):
        demo_table.table(work)


def test_no_pretrained_evaluation_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match='moco_seed'):
        demo_table.table(str(tmp_path))


def test_plot_reads_the_knn_records_and_writes_a_png(tmp_path):
    work = str(tmp_path)
    write_results(work, 'pixels', 80.0, 75.0, 83.0)
    write_results(work, 'random_seed0', 74.8, 64.4, 78.0)
    write_results(work, 'moco_seed0', 84.0, 80.0, 86.0)
    write_curve(work, 0, [(10, 78.0), (20, 82.5)])
    assert demo_table.knn_curve(osp.join(work, 'pretrain_seed0', '20261130_000000', 'vis_data',
                                         'scalars.json')) == [(10, 78.0), (20, 82.5)]
    _, means = demo_table.table(work)
    out = osp.join(work, 'curve.png')
    assert demo_table.plot(work, means, out) == 1
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_plot_without_monitor_writes_nothing(tmp_path):
    work = str(tmp_path)
    write_results(work, 'pixels', 80.0, 75.0, 83.0)
    write_results(work, 'moco_seed0', 84.0, 80.0, 86.0)
    out = osp.join(work, 'curve.png')
    assert demo_table.plot(work, dict(pixels=[80.0], random=[70.0]), out) == 0
    assert not osp.exists(out)
