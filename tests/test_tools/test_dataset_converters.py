"""The documented ImageNet layout (docs/data.md) on the 20 real sample JPEGs: class folders and
optional file lists give the same samples through the real configs; the list converter and
the semi-supervised subsets work from class folders alone."""
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT
from mmmoco.registry import DATASETS

sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
import make_imagenet_lists  # noqa: E402
import make_semi_supervised_subsets as subsets_tool  # noqa: E402

CONFIGS = {
    'pretraining': ('mocov2_r50_8xb32-coslr-200e_in1k.py', 'train_dataloader'),
    'linear evaluation': ('benchmarks/linear_eval/resnet50_linear-8xb32-steplr-100e_imagenet.py',
                          'train_dataloader'),
    'kNN': ('benchmarks/knn/resnet50_knn_imagenet.py', 'train_dataloader'),
}


@pytest.fixture
def class_folders(sample_imagenet, tmp_path) -> str:
    """The sample ImageNet as class folders only (no meta/ lists), plus a val/ split with
    the same classes (a copy of train/)."""
    root = tmp_path / 'imagenet'
    shutil.copytree(osp.join(sample_imagenet, 'train'), root / 'train')
    shutil.copytree(osp.join(sample_imagenet, 'train'), root / 'val')
    return str(root)


def samples(dataset) -> list:
    """(path, label) of every sample of a dataset."""
    return [(info['img_path'], info['gt_label'])
            for info in (dataset.get_data_info(i) for i in range(len(dataset)))]


def config_dataset(config: str, loader: str, data_root: str, ann_file: str = ''):
    """The dataset of a real config's loader, with only its root (and list) changed."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    dataset_cfg = cfg[loader].dataset
    dataset_cfg.update(data_root=data_root, ann_file=ann_file)
    return DATASETS.build(dataset_cfg)


def test_sample_writer_list_is_relative_to_train(sample_imagenet):
    lines = open(osp.join(sample_imagenet, 'meta', 'train.txt')).read().splitlines()
    assert len(lines) == 20
    for line in lines:
        path, label = line.split()
        assert not path.startswith('train/') and label.isdigit()
        assert osp.isfile(osp.join(sample_imagenet, 'train', path))


@pytest.mark.parametrize('purpose', sorted(CONFIGS))
def test_configs_read_the_layout_with_and_without_lists(purpose, sample_imagenet):
    config, loader = CONFIGS[purpose]
    from_folders = samples(config_dataset(config, loader, sample_imagenet))
    from_list = samples(config_dataset(config, loader, sample_imagenet, 'meta/train.txt'))
    assert len(from_folders) == 20
    assert all(osp.isfile(path) and '/train/train/' not in path for path, _ in from_folders)
    assert sorted(from_list) == sorted(from_folders)


def test_make_lists_matches_the_class_folder_reading(class_folders):
    counts = make_imagenet_lists.make_lists(class_folders)
    assert counts == {osp.join(class_folders, 'meta', 'train.txt'): 20,
                      osp.join(class_folders, 'meta', 'val.txt'): 20}
    config = 'benchmarks/knn/resnet50_knn_imagenet.py'
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val')):
        folders = samples(config_dataset(config, loader, class_folders))
        listed = samples(config_dataset(config, loader, class_folders, f'meta/{split}.txt'))
        assert listed == folders


def test_make_lists_refuses_to_overwrite_and_rejects_unknown_classes(class_folders):
    script = osp.join(ROOT, 'tools', 'dataset_converters', 'make_imagenet_lists.py')
    env_cmd = [sys.executable, script, class_folders]
    subprocess.run(env_cmd, check=True, capture_output=True, cwd=ROOT,
                   env={'PYTHONPATH': ROOT, 'PATH': '/usr/bin:/bin'})
    val_list = osp.join(class_folders, 'meta', 'val.txt')
    with open(val_list, 'w') as f:
        f.write('edited 0\n')
    again = subprocess.run(env_cmd, capture_output=True, text=True, cwd=ROOT,
                           env={'PYTHONPATH': ROOT, 'PATH': '/usr/bin:/bin'})
    assert again.returncode != 0 and '--force' in again.stderr
    assert open(val_list).read() == 'edited 0\n'
    make_imagenet_lists.make_lists(class_folders, force=True)
    assert len(open(val_list).read().splitlines()) == 20
    shutil.copytree(osp.join(class_folders, 'val', '0022'),
                    osp.join(class_folders, 'val', 'n99999999'))
    with pytest.raises(ValueError, match='n99999999'):
        make_imagenet_lists.make_lists(class_folders, force=True)


def test_semi_supervised_subsets_from_class_folders(class_folders):
    counts = subsets_tool.make_subsets(class_folders, 'meta/train.txt', [50], seed=0)
    [(path, count)] = counts.items()
    assert path == osp.join(class_folders, 'meta', 'train_50percent.txt')
    assert count == 19  # at least one of each of the 19 classes (one class has 2 images)
    subset = samples(config_dataset(
        'benchmarks/semi_supervised/resnet50_finetune-8xb32-coslr-60e_imagenet-1percent.py',
        'train_dataloader', class_folders, 'meta/train_50percent.txt'))
    all_samples = samples(config_dataset('benchmarks/knn/resnet50_knn_imagenet.py',
                                         'train_dataloader', class_folders))
    assert set(subset) <= set(all_samples) and len(subset) == 19
