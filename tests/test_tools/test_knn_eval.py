"""tools/benchmarks/knn_eval.sh on real Fashion-MNIST slices: readable output (no init records,
progress bars), the results file its --help names, no silent overwrite, the k that voted, and
clear stops for unlabeled lists and non-finite weights."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT, fashion_mnist_slice

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
    return fashion_mnist_slice(str(tmp_path_factory.mktemp('fashion_mnist')), 4, 2)


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
    # 40 bank images: k=200 votes with 40 neighbours, and says so (issue 17, item 5)
    assert [results['results'][k]['k_used'] for k in ('k=20', 'k=200')] == [20, 40]
    assert 'k=200: top-1' in first.stdout and '(capped to 40: the bank has 40 features)' \
        in first.stdout and 'k=20: top-1' in first.stdout

    with open(path, 'a') as f:
        f.write(' ')
    before = open(path).read()
    second = run(knn_command(fashion_mnist, work_dir), check=False)
    assert second.returncode != 0 and '--force' in second.stderr and path in second.stderr
    assert open(path).read() == before
    run(knn_command(fashion_mnist, work_dir, '--force'))
    assert open(path).read() != before and json.load(open(path))['results'] == results['results']


def test_linear_probe_and_raw_pixel_baseline_on_the_same_features(fashion_mnist, tmp_path):
    """--linear-probe adds the probe to the results; the raw-pixel config needs no checkpoint
    and its kNN equals a direct computation on the normalised pixels."""
    import torch
    from mmengine.config import Config

    from mmmoco.apis import register_all_modules
    from mmmoco.evaluation import knn_class_scores, topk_accuracy
    from mmmoco.evaluation.linear_probe import linear_probe
    pixels = osp.join('configs', 'benchmarks', 'knn', 'raw-pixels_knn_fashionmnist.py')
    work_dir = str(tmp_path / 'pixels')
    command = knn_command(fashion_mnist, work_dir, '--linear-probe')
    command[2] = pixels
    out = run(command).stdout
    assert 'linear probe: top-1' in out
    results = json.load(open(osp.join(work_dir, 'knn_results.json')))
    probe = results['linear_probe']
    assert set(probe) == {'top1', 'weight_decay', 'cv_top1'} and 0 <= probe['top1'] <= 100

    # the same numbers from the pixels directly: first channel, normalised as the preprocessor
    import cv2
    import numpy as np

    from mmmoco.registry import MODELS
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, pixels))
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    mean, std = float(preprocessor.mean.flatten()[0]), float(preprocessor.std.flatten()[0])

    def load(split):
        lines = open(osp.join(fashion_mnist, 'meta', f'{split}.txt')).read().split('\n')
        pairs = [line.rsplit(' ', 1) for line in lines if line]
        images = [cv2.imread(osp.join(fashion_mnist, path), cv2.IMREAD_GRAYSCALE)
                  for path, _ in pairs]
        feats = (torch.tensor(np.stack(images), dtype=torch.float32).flatten(1) - mean) / std
        return feats, torch.tensor([int(label) for _, label in pairs])

    bank, query = load('train'), load('val')
    scores = knn_class_scores(query[0], bank[0], bank[1], 10, k=20,
                              temperature=cfg.knn.temperature)
    assert abs(topk_accuracy(scores, query[1], topk=(1, ))['top1']
               - results['results']['k=20']['top1']) < 1e-3
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tool ran with OMP_NUM_THREADS=1; float sums depend on it
    try:
        direct = linear_probe(bank[0], bank[1], query[0], query[1], seed=0)
    finally:
        torch.set_num_threads(threads)
    assert direct['weight_decay'] == probe['weight_decay']
    assert abs(direct['top1'] - probe['top1']) < 1e-6
    assert abs(direct['cv_top1'] - probe['cv_top1']) < 1e-6


def test_unlabeled_list_and_non_finite_weights_stop_before_any_feature(fashion_mnist, tmp_path):
    """Issue 17, item 5: an unlabeled query list used to crash in feature extraction with
    "'DataSample' object has no attribute 'gt_label'"; a NaN BN running_var gave a top-1
    written as a result."""
    unlabeled = tmp_path / 'unlabeled.txt'
    with open(osp.join(fashion_mnist, 'meta', 'val.txt')) as f:
        unlabeled.write_text(''.join(line.split(' ')[0] + '\n' for line in f))
    work_dir = str(tmp_path / 'knn')
    result = run(knn_command(fashion_mnist, work_dir)
                 + [f'val_dataloader.dataset.ann_file={unlabeled}'], check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert f'kNN needs labels: {unlabeled} (val_dataloader: the queries) has none' \
        in result.stderr
    assert 'kNN bank' not in result.stderr and not osp.exists(work_dir)

    import torch
    from mmengine.config import Config

    from mmmoco.apis import register_all_modules
    from mmmoco.registry import MODELS
    register_all_modules()
    backbone = MODELS.build(Config.fromfile(osp.join(ROOT, CONFIG)).model.backbone)
    state = backbone.state_dict()
    state['bn1.running_var'][0] = float('nan')
    checkpoint = str(tmp_path / 'nan.pth')
    torch.save(state, checkpoint)
    command = knn_command(fashion_mnist, work_dir)
    command[3] = checkpoint
    result = run(command, check=False)
    assert result.returncode != 0 and not osp.exists(work_dir)
    assert f'knn_eval.py: cannot load {checkpoint}: 1 tensor(s) with non-finite values: ' \
           'bn1.running_var (1 NaN, 0 Inf)' in result.stderr
