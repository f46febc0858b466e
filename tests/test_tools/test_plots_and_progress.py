"""Pictures and progress bars: the t-SNE legend names the classes (a file list's class folders
on real Fashion-MNIST, a class-folder dataset's metainfo), its axes and title are labelled;
the curve plot names each run after its work dir and has a title; t-SNE and the model
converters show tqdm progress bars on stderr, not on stdout. Read from the matplotlib figures.
"""
import json
import os
import os.path as osp
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from conftest import ROOT
from conftest import fashion_mnist_slice as write_fashion_mnist_slice
from mmmoco.apis.converters import extract_backbone_file
from mmmoco.datasets.sources.fashion_mnist import CLASSES

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import analyze_logs  # noqa: E402
import visualize_tsne  # noqa: E402

KNN_FASHION = osp.join(ROOT, 'configs', 'benchmarks', 'knn',
                       'resnet18w16-small_knn_fashionmnist.py')
KNN_IMAGENET = osp.join(ROOT, 'configs', 'benchmarks', 'knn', 'resnet50_knn_imagenet.py')


@pytest.fixture(scope='module')
def fashion_mnist(tmp_path_factory) -> str:
    """2 train and 3 val images per Fashion-MNIST class, with file lists."""
    return write_fashion_mnist_slice(str(tmp_path_factory.mktemp('fashion_mnist')), 2, 3)


def legend_texts(ax) -> list:
    """The entries of an axes' legend."""
    return [text.get_text() for text in ax.get_legend().get_texts()]


# --------------------------------------------------------------------- t-SNE
def test_class_names_of_a_file_list_are_its_class_folders(fashion_mnist):
    names = visualize_tsne.class_names(KNN_FASHION, 'val',
                                       {'val_dataloader.dataset.data_root': fashion_mnist})
    assert names == dict(enumerate(CLASSES))


def test_class_names_of_class_folders_are_the_dataset_metainfo(sample_imagenet):
    names = visualize_tsne.class_names(KNN_IMAGENET, 'train', {
        'train_dataloader.dataset.data_root': sample_imagenet})
    assert list(names.values()) == sorted(os.listdir(osp.join(sample_imagenet, 'train')))
    assert list(names) == list(range(len(names))) and len(names) > 1


def test_class_names_need_one_folder_per_label(tmp_path):
    """A list whose label 0 lies in two folders names no class (numbers stay)."""
    for folder in ('a', 'b', 'c'):
        os.makedirs(tmp_path / folder)
    (tmp_path / 'list.txt').write_text('a/1.png 0\nb/2.png 0\nc/3.png 1\n')
    config = tmp_path / 'cfg.py'
    config.write_text(f"val_dataloader = dict(dataset=dict(type='ImageFolderDataset', "
                      f"data_root={str(tmp_path)!r}, ann_file='list.txt'))\n")
    assert visualize_tsne.class_names(str(config), 'val') == {}
    with pytest.raises(KeyError, match=r'cfg\.py has no train_dataloader'):
        visualize_tsne.class_names(str(config), 'train')


def test_tsne_figure_names_classes_and_labels_axes():
    points = np.random.default_rng(0).normal(size=(9, 2))
    fig = visualize_tsne.tsne_figure(points, np.repeat([0, 1, 2], 3), 'my title',
                                     {0: 'cat', 1: 'dog'})
    [ax] = fig.axes
    assert legend_texts(ax) == ['cat', 'dog', '2']  # a label without a name keeps its number
    assert ax.get_legend().get_title().get_text() == 'class'
    assert (ax.get_xlabel(), ax.get_ylabel()) == ('t-SNE dimension 1', 't-SNE dimension 2')
    assert ax.get_title() == 'my title'
    plt.close(fig)


def test_tsne_of_extracted_features_names_fashion_mnist_classes(fashion_mnist, tmp_path,
                                                                capsys, monkeypatch):
    """The tool end to end on the val split's labels: class names from --config (the split
    from the file name), a default title, and a progress bar over the iterations on stderr."""
    with open(osp.join(fashion_mnist, 'meta', 'val.txt')) as f:
        labels = np.array([int(line.split()[1]) for line in f])
    feats = np.random.default_rng(0).normal(size=(len(labels), 8)).astype(np.float32)
    np.save(tmp_path / 'val_features.npy', feats)
    np.save(tmp_path / 'val_labels.npy', labels)
    figures = []
    monkeypatch.setattr(visualize_tsne, 'save_figure', lambda fig, out: figures.append(fig))
    count = visualize_tsne.visualize_tsne(
        str(tmp_path / 'val_features.npy'), str(tmp_path / 'val_labels.npy'),
        str(tmp_path / 'tsne.png'), perplexity=5, config=KNN_FASHION,
        cfg_options={'val_dataloader.dataset.data_root': fashion_mnist})
    [ax] = figures[0].axes
    assert count == 30
    assert legend_texts(ax) == list(CLASSES)
    assert ax.get_title() == ('t-SNE of resnet18w16-small_knn_fashionmnist (val split): '
                              '30 points, perplexity 5')
    plt.close(figures[0])
    out, err = capsys.readouterr()
    assert '[t-SNE]' not in out  # scikit-learn's verbose lines feed the bar, not stdout
    last = err.replace('\r', '\n').strip().splitlines()[-1]
    assert last.startswith('t-SNE: ') and 'it' in last
    done, total = last.split('|')[2].split()[0].split('/')
    assert int(total) >= 250 and 250 <= int(done) <= int(total)


# --------------------------------------------------------------------- curves
def write_log(root, work_dir: str, timestamp: str, losses) -> str:
    """A ``WORK_DIR/<timestamp>/vis_data/scalars.json`` with one loss per step."""
    folder = root / work_dir / timestamp / 'vis_data'
    os.makedirs(folder)
    (folder / 'scalars.json').write_text(''.join(
        json.dumps(dict(loss=loss, step=step + 1, iter=step + 1, epoch=1)) + '\n'
        for step, loss in enumerate(losses)))
    return str(folder / 'scalars.json')


def test_curves_are_named_after_their_runs_under_a_title(tmp_path):
    v2 = write_log(tmp_path, 'mocov2_r18w16_fashionmnist', '20250101_000000', [7, 6])
    v3 = write_log(tmp_path, 'mocov3_r18w16_fashionmnist', '20250102_000000', [5, 4])
    fig = analyze_logs.curve_figure([v2, v3], ['loss'])
    assert legend_texts(fig.axes[0]) == ['mocov2_r18w16_fashionmnist',
                                         'mocov3_r18w16_fashionmnist']
    assert fig._suptitle.get_text() == '2 runs'
    plt.close(fig)
    fig = analyze_logs.curve_figure([v2], ['loss'])
    assert fig._suptitle.get_text() == 'mocov2_r18w16_fashionmnist'
    plt.close(fig)
    fig = analyze_logs.curve_figure([v2, v3], ['loss'], legend=['v2', 'v3'], title='MoCo')
    assert legend_texts(fig.axes[0]) == ['v2', 'v3'] and fig._suptitle.get_text() == 'MoCo'
    plt.close(fig)


def test_runs_of_one_work_dir_are_told_apart_by_timestamp(tmp_path):
    first = write_log(tmp_path, 'run', '20250101_000000', [7, 6])
    resumed = write_log(tmp_path, 'run', '20250102_000000', [5, 4])
    other = write_log(tmp_path, 'other', '20250103_000000', [3])
    assert analyze_logs.run_names([first, resumed, other]) == [
        'run (20250101_000000)', 'run (20250102_000000)', 'other']
    plain = tmp_path / 'log.json'
    plain.write_text('{"loss": 1, "step": 1}\n')
    assert analyze_logs.run_names([str(plain)]) == ['log']


# --------------------------------------------------------------------- converters
def test_converter_shows_its_steps_on_stderr(tmp_path, capsys):
    src, dst = tmp_path / 'epoch_1.pth', tmp_path / 'backbone.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.ones(2, 3, 1, 1),
                                'neck.fc.weight': torch.ones(2, 2)}), src)
    assert extract_backbone_file(str(src), str(dst)) == 1
    out, err = capsys.readouterr()
    assert out == ''
    last = err.replace('\r', '\n').strip().splitlines()[-1]
    assert last.startswith('epoch_1.pth -> backbone.pth: 100%') and '3/3' in last
