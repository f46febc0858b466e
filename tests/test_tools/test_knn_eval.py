"""tools/benchmarks/knn_eval.sh on real Fashion-MNIST slices: readable output (no init records,
progress bars), the results file its --help names, and no silent overwrite."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT

CONFIG = osp.join('configs', 'benchmarks', 'knn', 'resnet18w16-small_knn_fashionmnist.py')


def run(cmd, check: bool = True) -> subprocess.CompletedProcess:
    """Run from the repository root with the venv's interpreter found by the tool itself."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env.pop('PYTHON', None)
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope='module')
def fashion_mnist(tmp_path_factory) -> str:
    """Fashion-MNIST slices: 4 train (bank) and 2 val (query) images per class."""
    from mmmoco.datasets.sources.fashion_mnist import find_fashion_mnist
    try:
        find_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    root = str(tmp_path_factory.mktemp('fashion_mnist'))
    run([sys.executable, 'tools/dataset_converters/prepare_fashion_mnist.py', root,
         '--train-per-class', '4', '--val-per-class', '2'])
    return root


def knn_command(data_root: str, work_dir: str, *extra: str) -> list:
    """knn_eval.sh on the slices, random init, one process."""
    return ['bash', 'tools/benchmarks/knn_eval.sh', CONFIG, '', '1', '--work-dir', work_dir,
            *extra, '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            f'val_dataloader.dataset.data_root={data_root}', 'train_dataloader.num_workers=0',
            'val_dataloader.num_workers=0', 'train_dataloader.batch_size=16',
            'val_dataloader.batch_size=16']


def test_help_names_the_results_file_and_the_overwrite_rule():
    out = run([sys.executable, 'tools/benchmarks/knn_eval.py', '--help']).stdout
    assert 'knn_results.json' in out and '--force' in out


def test_output_results_file_and_no_silent_overwrite(fashion_mnist, tmp_path):
    work_dir = str(tmp_path / 'knn')
    first = run(knn_command(fashion_mnist, work_dir))
    assert 'init_weights' not in first.stdout + first.stderr
    assert len((first.stdout + first.stderr).splitlines()) < 40
    assert 'kNN bank (train_dataloader)' in first.stderr and '3/3' in first.stderr
    assert 'kNN queries (val_dataloader)' in first.stderr
    path = osp.join(work_dir, 'knn_results.json')
    assert f'results written to {path}' in first.stdout
    results = json.load(open(path))
    assert set(results['results']) == {'k=20', 'k=200'}

    with open(path, 'a') as f:
        f.write(' ')
    before = open(path).read()
    second = run(knn_command(fashion_mnist, work_dir), check=False)
    assert second.returncode != 0 and '--force' in second.stderr and path in second.stderr
    assert open(path).read() == before
    run(knn_command(fashion_mnist, work_dir, '--force'))
    assert open(path).read() != before and json.load(open(path))['results'] == results['results']
