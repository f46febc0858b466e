"""tools/analysis_tools (features, t-SNE, logs) and the semi-supervised subset converter."""
import json
import os
import os.path as osp
import subprocess
import sys
from collections import Counter
from typing import List

import numpy as np
import pytest

from conftest import ROOT
from conftest import fashion_mnist_slice as write_fashion_mnist_slice

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
import analyze_logs  # noqa: E402
import make_semi_supervised_subsets as subsets_tool  # noqa: E402
import visualize_tsne  # noqa: E402

PNG_MAGIC = b'\x89PNG'
LOG_LINES = [
    {'lr': 0.03, 'loss': 7.0, 'momentum': 0.99, 'epoch': 1, 'iter': 5, 'step': 5},
    {'lr': 0.02, 'loss': 6.0, 'momentum': 0.99, 'epoch': 1, 'iter': 10, 'step': 10},
    {'accuracy/top1': 20.0, 'step': 1},
    {'lr': 0.01, 'loss': 6.5, 'momentum': 0.99, 'epoch': 2, 'iter': 15, 'step': 15},
    {'accuracy/top1': 35.0, 'step': 2},
]


def synthetic_list(counts: List[int]) -> List[str]:
    """``path label`` lines with ``counts[c]`` images of class c, classes interleaved."""
    lines = [f'train/c{c}/{i:04d}.png {c}' for c, n in enumerate(counts) for i in range(n)]
    return sorted(lines, key=lambda line: line.split('/')[2])


def assert_png(path: str) -> None:
    """The file exists, is non-empty and is a PNG."""
    assert osp.getsize(path) > 1000
    with open(path, 'rb') as f:
        assert f.read(4) == PNG_MAGIC


# --------------------------------------------------------------------- subsets
def test_subset_counts_are_class_balanced():
    lines = synthetic_list([200, 50, 7])
    subset = subsets_tool.sample_subset(lines, 10, seed=0)
    per_class = Counter(line.split()[1] for line in subset)
    assert per_class == {'0': 20, '1': 5, '2': 1}  # round(0.7) = 1, and at least 1 per class
    assert set(subset) <= set(lines) and len(set(subset)) == len(subset)
    assert subset == [line for line in lines if line in set(subset)]  # input order kept
    one = Counter(line.split()[1] for line in subsets_tool.sample_subset(lines, 1, seed=0))
    assert one == {'0': 2, '1': 1, '2': 1}


def test_subset_is_reproducible_per_seed():
    lines = synthetic_list([100, 100])
    first = subsets_tool.sample_subset(lines, 10, seed=0)
    assert subsets_tool.sample_subset(lines, 10, seed=0) == first
    assert subsets_tool.sample_subset(lines, 10, seed=1) != first


def test_subset_rejects_bad_input():
    with pytest.raises(ValueError, match='percent'):
        subsets_tool.sample_subset(synthetic_list([10]), 0, seed=0)
    with pytest.raises(ValueError, match='no_label.png'):
        subsets_tool.sample_subset(['a.png 0', 'no_label.png'], 50, seed=0)


def test_make_subsets_writes_and_refuses_overwrite(tmp_path):
    os.makedirs(tmp_path / 'meta')
    lines = synthetic_list([30, 20])
    (tmp_path / 'meta' / 'train.txt').write_text('\n'.join(lines) + '\n')
    counts = subsets_tool.make_subsets(str(tmp_path), 'meta/train.txt', [10, 50], seed=0)
    out10 = str(tmp_path / 'meta' / 'train_10percent.txt')
    assert counts == {out10: 5, str(tmp_path / 'meta' / 'train_50percent.txt'): 25}
    written = open(out10).read().splitlines()
    assert written == subsets_tool.sample_subset(lines, 10, seed=0)
    with pytest.raises(FileExistsError, match='train_10percent.txt'):
        subsets_tool.make_subsets(str(tmp_path), 'meta/train.txt', [10], seed=1)
    assert open(out10).read().splitlines() == written
    subsets_tool.make_subsets(str(tmp_path), 'meta/train.txt', [10], seed=1, force=True)
    assert open(out10).read().splitlines() != written
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        subsets_tool.make_subsets(str(tmp_path), 'meta/missing.txt', [10], seed=0)


# --------------------------------------------------------------------- logs
@pytest.fixture
def scalars_json(tmp_path) -> str:
    """A hand-written mmengine ``vis_data/scalars.json``."""
    folder = tmp_path / 'mocov2_run' / '20250101_000000' / 'vis_data'
    os.makedirs(folder)
    path = folder / 'scalars.json'
    path.write_text(''.join(json.dumps(line) + '\n' for line in LOG_LINES))
    return str(path)


def test_summary_values(scalars_json):
    summary = analyze_logs.summarize(analyze_logs.load_log(scalars_json))
    assert summary['train_steps'] == 15
    assert summary['scalars']['loss'] == dict(last=6.5, min=6.0, max=7.0, count=3)
    assert summary['scalars']['accuracy/top1'] == dict(last=35.0, min=20.0, max=35.0, count=2)
    assert set(summary['scalars']) == {'lr', 'loss', 'momentum', 'accuracy/top1'}
    table = analyze_logs.format_summary(scalars_json, summary)
    assert '15 train steps' in table and 'accuracy/top1' in table


def test_extract_curve_axes(scalars_json):
    records = analyze_logs.load_log(scalars_json)
    assert analyze_logs.extract_curve(records, 'loss') == ([5, 10, 15], [7.0, 6.0, 6.5])
    assert analyze_logs.extract_curve(records, 'accuracy/top1', 'epoch') == ([1, 2],
                                                                             [20.0, 35.0])
    assert analyze_logs.run_names([scalars_json]) == ['mocov2_run']


def test_plot_curve(scalars_json, tmp_path):
    out = str(tmp_path / 'plots' / 'curves.png')
    analyze_logs.plot_curves([scalars_json, scalars_json], ['loss', 'lr'], out,
                             legend=['a', 'b'], xaxis='epoch', title='MoCo')
    assert_png(out)


def test_log_errors(scalars_json, tmp_path):
    with pytest.raises(ValueError, match=r"'acc' is not logged.*accuracy/top1, loss, lr"):
        analyze_logs.plot_curves([scalars_json], ['acc'], str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='2 names for 1 logs'):
        analyze_logs.plot_curves([scalars_json], ['loss'], str(tmp_path / 'x.png'),
                                 legend=['a', 'b'])
    empty = tmp_path / 'empty.json'
    empty.write_text('\n')
    with pytest.raises(ValueError, match='empty.json is empty'):
        analyze_logs.load_log(str(empty))
    with pytest.raises(FileNotFoundError, match='nope.json'):
        analyze_logs.load_log(str(tmp_path / 'nope.json'))
    broken = tmp_path / 'broken.json'
    broken.write_text('{"loss": 1}\n{"loss": \n')
    with pytest.raises(ValueError, match='broken.json:2'):
        analyze_logs.load_log(str(broken))


# --------------------------------------------------------------------- t-SNE
def test_tsne_plot(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=10, size=(3, 16))
    labels = np.repeat(np.arange(3), 30)
    feats = (centers[labels] + rng.normal(size=(90, 16))).astype(np.float32)
    np.save(tmp_path / 'f.npy', feats)
    np.save(tmp_path / 'l.npy', labels)
    out = str(tmp_path / 'tsne.png')
    count = visualize_tsne.visualize_tsne(str(tmp_path / 'f.npy'), str(tmp_path / 'l.npy'), out,
                                          max_samples=60, perplexity=10, seed=0)
    assert count == 60
    assert_png(out)


def test_tsne_subsample_and_errors(tmp_path):
    first = visualize_tsne.subsample_indices(100, 10, seed=0)
    assert np.array_equal(first, visualize_tsne.subsample_indices(100, 10, seed=0))
    assert not np.array_equal(first, visualize_tsne.subsample_indices(100, 10, seed=1))
    assert np.array_equal(visualize_tsne.subsample_indices(5, 10, seed=0), np.arange(5))
    np.save(tmp_path / 'f.npy', np.zeros((4, 8), np.float32))
    np.save(tmp_path / 'l.npy', np.zeros(5, np.int64))
    with pytest.raises(ValueError, match=r'l\.npy.*\(5,\)'):
        visualize_tsne.load_features(str(tmp_path / 'f.npy'), str(tmp_path / 'l.npy'))
    with pytest.raises(ValueError, match='perplexity'):
        visualize_tsne.embed_tsne(np.zeros((4, 8), np.float32), perplexity=30, seed=0)


# --------------------------------------------------------------------- features
@pytest.fixture(scope='module')
def fashion_mnist_slice(tmp_path_factory) -> str:
    """3 train and 2 val images per Fashion-MNIST class, as an ImageNet-style folder."""
    return write_fashion_mnist_slice(str(tmp_path_factory.mktemp('fashion_mnist')), 3, 2)


def meta_labels(root: str, split: str) -> np.ndarray:
    """The labels of a split's file list."""
    with open(osp.join(root, 'meta', f'{split}.txt')) as f:
        return np.array([int(line.split()[1]) for line in f if line.strip()])


def test_extract_features_end_to_end(fashion_mnist_slice, tmp_path):
    out_dir = str(tmp_path / 'feats')
    options = [f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader')
               for key in (f'dataset.data_root={fashion_mnist_slice}', 'num_workers=0',
                           'batch_size=16')]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    result = subprocess.run(
        [sys.executable, osp.join('tools', 'analysis_tools', 'extract_features.py'),
         osp.join('configs', 'benchmarks', 'knn', 'resnet18w16-small_knn_fashionmnist.py'),
         '--out-dir', out_dir, '--cfg-options', *options],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for split, count in (('train', 30), ('val', 20)):
        feats = np.load(osp.join(out_dir, f'{split}_features.npy'))
        labels = np.load(osp.join(out_dir, f'{split}_labels.npy'))
        assert feats.shape == (count, 128) and feats.dtype == np.float32
        assert np.isfinite(feats).all()
        assert labels.dtype == np.int64
        assert np.array_equal(labels, meta_labels(fashion_mnist_slice, split))
        assert f'{split}: features ({count}, 128)' in result.stdout
    assert result.stdout.strip().splitlines()[-1] == f'extract_features done: results in {out_dir}'



def test_extract_features_of_an_unlabeled_folder(fashion_mnist_slice, tmp_path):
    """Issue 20: an UnlabeledImageFolder split gives features and no labels file (it crashed
    with "'DataSample' object has no attribute 'gt_label'"), the same vectors as
    mmmoco.apis.embed on that folder; a labels file of an earlier run is removed."""
    from mmengine.config import Config
    from mmmoco.apis import embed, get_model
    out_dir = tmp_path / 'feats'
    out_dir.mkdir()
    np.save(out_dir / 'train_labels.npy', np.zeros(30, np.int64))
    config = osp.join('configs', 'benchmarks', 'knn', 'resnet18w16-small_knn_fashionmnist.py')
    folder = osp.join(fashion_mnist_slice, 'train')
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    result = subprocess.run(
        [sys.executable, osp.join('tools', 'analysis_tools', 'extract_features.py'), config,
         '--out-dir', str(out_dir), '--split', 'train', '--cfg-options',
         'train_dataloader.dataset.type=UnlabeledImageFolder',
         f'train_dataloader.dataset.data_root={folder}', 'train_dataloader.num_workers=0'],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'train: features (30, 128)' in result.stdout and 'no labels' in result.stdout
    assert sorted(os.listdir(out_dir)) == ['train_features.npy']
    feats = np.load(out_dir / 'train_features.npy')
    expected = embed(get_model(Config.fromfile(osp.join(ROOT, config)), device='cpu'), folder,
                     progress=False)
    np.testing.assert_allclose(feats, expected.numpy(), rtol=1e-4, atol=1e-5)
