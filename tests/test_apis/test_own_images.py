"""Issue 20, item 2: your own unlabeled images end to end. The own-images recipe pretrains on a
flat folder of the 20 real ImageNet JPEGs with only its data root changed (the dataset type
follows from the folder, said in the log; RankMe, no kNN, no labels), then the README's embed
example embeds the folder with the run's config copy and checkpoint."""
import glob
import os.path as osp
import re
import shutil

import torch
from mmengine.config import Config

from conftest import ROOT
from test_readme_commands import fenced_blocks
from tiny_run import build_runner, log_text, model_state

RECIPE = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_own-images.py')


def readme_embed_example() -> str:
    """The README's Python block that calls embed."""
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        [block] = [b for b in fenced_blocks(f.read(), ('python', )) if 'embed(' in b]
    return block


def test_recipe_needs_no_labels():
    cfg = Config.fromfile(RECIPE)
    assert cfg.train_dataloader.dataset.type == 'AutoImageFolder'
    assert [hook.type for hook in cfg.custom_hooks] == ['RankMeHook']
    for name in ('mocov2_r50_8xb32-coslr-200e_in1k.py',
                 'mocov3_vit-s16_16xb256-amp-coslr-300e_in1k.py',
                 'mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py'):
        dataset = Config.fromfile(osp.join(ROOT, 'configs', name)).train_dataloader.dataset
        assert dataset.type == 'AutoImageFolder', name


def test_pretrain_on_a_flat_folder_then_embed(sample_imagenet, tmp_path, monkeypatch):
    images = tmp_path / 'my_images'
    images.mkdir()
    for path in glob.glob(osp.join(sample_imagenet, 'train', '*', '*.jpg')):
        shutil.copy(path, images)
    work_dir = tmp_path / 'work_dirs' / 'my_images'
    cfg = Config.fromfile(RECIPE)
    cfg.merge_from_dict({  # only the data root as the README says, then shrunk to seconds
        'train_dataloader.dataset.data_root': str(images),
        'work_dir': str(work_dir), 'train_cfg.max_epochs': 1,
        'train_dataloader.batch_size': 4, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.pipeline.1.transforms.0.size': 16,
        'model.backbone.base_channels': 4, 'model.neck.in_channels': 32,
        'model.neck.hidden_channels': 32, 'model.queue.queue_len': 16,
        'model.single_device_bn_splits': 2, 'custom_hooks.0.interval': 1,
        'randomness.seed': 0})
    build_runner(cfg).train()
    log = log_text(str(work_dir))
    assert f"AutoImageFolder: UnlabeledImageFolder reading every image in '{images}" in log
    assert 'RankMe after iteration 5' in log and 'KNNEvalHook' not in log

    example = readme_embed_example()
    config_copy, checkpoint = re.findall(r"'(work_dirs/my_images/[^']+)'", example)
    assert osp.isfile(work_dir.parent.parent / config_copy)  # the run's copy of its config
    assert osp.isfile(work_dir.parent.parent / checkpoint.replace('epoch_80', 'epoch_1'))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(example.replace('epoch_80', 'epoch_1').replace('/path/to/images', str(images)),
         namespace)  # noqa: S102 - the README's own code
    features = namespace['features']
    assert features.shape == (20, 32) and torch.isfinite(features).all()
    # the trained weights, not a random init: the checkpoint's backbone is what embedded
    state = model_state(str(work_dir / 'epoch_1.pth'))
    assert torch.equal(namespace['model'].conv1.weight, state['backbone.conv1.weight'])
    # the derived test-time transforms follow the run's crop size (16 px, resize 18)
    assert [t.get('size') for t in namespace['model'].preprocessing.pipeline] == [
        None, 18, 16, None]
