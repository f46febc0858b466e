"""Issue 20, item 1: ``mmmoco.apis`` builds a shipped or saved config's backbone with its weights
(``get_model``) and embeds a folder, file paths, PIL images or arrays (``embed``) with the
config's own test-time preprocessing, giving the features of the evaluation path
(``extract_features`` over the config's loader) on the 20 real ImageNet JPEGs."""
import glob
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from conftest import ROOT
from mmmoco.apis import embed, get_model, list_models
from mmmoco.apis import model_zoo
from mmmoco.apis.inference import load_model_config
from mmmoco.apis.converters import extract_backbone_file
from mmmoco.apis.preprocessing import eval_pipeline
from mmmoco.evaluation import extract_features
from mmmoco.evaluation.frozen_backbone import build_frozen_backbone
from mmmoco.registry import MODELS

KNN_IMAGENET = osp.join(ROOT, 'configs', 'benchmarks', 'knn', 'resnet50_knn_imagenet.py')
#: The kNN ImageNet protocol (resize 256, crop 224) with a width-16 ResNet-18: cheap on a CPU.
SMALL = dict(depth=18, base_channels=16)


def small_knn_config(data_root: str) -> Config:
    """The ImageNet kNN config with a small ResNet, reading the sample images' class folders."""
    cfg = Config.fromfile(KNN_IMAGENET)
    cfg.model.backbone.update(SMALL)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(num_workers=0, batch_size=8)
        loader.dataset.data_root = data_root
    return cfg


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory) -> dict:
    """A training-style checkpoint of the small backbone (keys under ``backbone.``, plus a
    neck) and the backbone extracted from it by the README's converter."""
    folder = tmp_path_factory.mktemp('checkpoints')
    torch.manual_seed(7)
    backbone = MODELS.build(dict(type='ResNet', out_indices=(3, ), **SMALL))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.fc.weight'] = torch.zeros(4, 128)
    training = str(folder / 'epoch_3.pth')
    torch.save({'state_dict': state, 'meta': dict(epoch=3)}, training)
    extracted = str(folder / 'backbone.pth')
    extract_backbone_file(training, extracted, 'backbone.', False)
    return dict(training=training, extracted=extracted, weights=backbone.state_dict())


def sample_paths(sample_imagenet: str) -> list:
    """The 20 JPEGs in class-folder order (sorted class ids, then file names)."""
    return sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*.jpg')))


def test_list_models_names_recipes_and_knn_configs():
    names = list_models()
    assert 'mocov2_r50_8xb32-coslr-200e_in1k' in names
    assert 'benchmarks/knn/resnet50_knn_imagenet' in names
    assert 'mocov2_r18w16-small_1xb128-coslr-80e_own-images' in names
    assert not any(name.startswith('_base_') or name.endswith('.py') for name in names)
    assert list_models('*fashionmnist_knn-monitor') == [
        'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_knn-monitor',
        'mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist_knn-monitor']


def test_configs_inside_the_package_are_found_first(tmp_path, monkeypatch):
    """An installed package carries the configs as mmmoco/.mim/configs; the checkout's
    configs/ is the fallback."""
    packaged = tmp_path / '.mim' / 'configs'
    os.makedirs(packaged / 'benchmarks' / 'knn')
    shutil.copy(KNN_IMAGENET, packaged / 'benchmarks' / 'knn' / 'only_here.py')
    repo = osp.join(ROOT, 'configs')
    monkeypatch.setattr(model_zoo, 'CONFIG_ROOTS', (str(packaged), repo))
    assert list_models() == ['benchmarks/knn/only_here']
    assert load_model_config('benchmarks/knn/only_here').model.backbone.depth == 50
    monkeypatch.setattr(model_zoo, 'CONFIG_ROOTS', (str(tmp_path / 'absent'), repo))
    assert 'mocov2_r50_8xb32-coslr-200e_in1k' in list_models()
    monkeypatch.setattr(model_zoo, 'CONFIG_ROOTS', (str(tmp_path / 'absent'), ))
    with pytest.raises(FileNotFoundError, match='absent'):
        list_models()


def test_unknown_name_suggests_the_closest():
    with pytest.raises(FileNotFoundError,
                       match='mocov2_r50_8xb23-coslr.* mocov2_r50_8xb32-coslr-200e_in1k'):
        get_model('mocov2_r50_8xb23-coslr-200e_in1k')


@pytest.mark.parametrize('name, pipeline', [
    ('mocov2_r50_8xb32-coslr-200e_in1k', [('Resize', 256), ('CenterCrop', 224)]),
    ('mocov3_vit-s16_16xb256-amp-coslr-300e_in1k', [('Resize', 256), ('CenterCrop', 224)]),
    ('mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist', [('Resize', 32), ('CenterCrop', 28)]),
    # multi-crop: the global 28 px views, not the 14 px ones
    ('mocov2_r18w16-small_2xb64-amp-sym-mc-coslr-70e_fashionmnist',
     [('Resize', 32), ('CenterCrop', 28)]),
    # an evaluation config brings its own: the full 28 px Fashion-MNIST image
    ('benchmarks/knn/resnet18w16-small_knn_fashionmnist', []),
])
def test_test_time_pipeline_of_recipes_and_evaluation_configs(name, pipeline):
    transforms, _ = eval_pipeline(load_model_config(name))
    assert transforms[0] == dict(type='LoadImageFromFile')
    assert transforms[-1] == dict(type='PackInputs')
    assert [(t['type'], t['size']) for t in transforms[1:-1]] == pipeline


def test_derived_imagenet_protocol_is_the_knn_benchmarks():
    derived, _ = eval_pipeline(load_model_config('mocov2_r50_8xb32-coslr-200e_in1k'))
    assert derived == [dict(t) for t in Config.fromfile(KNN_IMAGENET).test_pipeline]


def test_config_without_test_size_is_named(tmp_path):
    path = tmp_path / 'no_size.py'
    path.write_text("model = dict(backbone=dict(type='ResNet', depth=18), "
                    "data_preprocessor=dict(type='SelfSupDataPreprocessor'))\n")
    with pytest.raises(ValueError, match='no_size.py: no val_dataloader.dataset.pipeline'):
        get_model(str(path))
    path.write_text("model = dict(backbone=dict(type='ResNet', depth=18))\n")
    with pytest.raises(ValueError, match=r'model\.data_preprocessor is missing'):
        get_model(str(path))


def test_embed_matches_the_evaluation_path(sample_imagenet, checkpoints):
    """embed on a folder, on file paths, on arrays and on PIL images gives the features that
    the kNN evaluation extracts from the config's own loader, with both checkpoint kinds."""
    cfg = small_knn_config(sample_imagenet)
    backbone, preprocessor = build_frozen_backbone(cfg, checkpoints['training'],
                                                   torch.device('cpu'))
    reference, labels = extract_features(backbone, preprocessor,
                                         Runner.build_dataloader(cfg.train_dataloader))
    assert reference.shape == (20, 128) and labels.shape == (20, )

    model = get_model(cfg, checkpoints['training'], device='cpu')
    assert not model.training and type(model).__name__ == 'ResNet'
    paths = sample_paths(sample_imagenet)
    from_folder = embed(model, osp.join(sample_imagenet, 'train'), batch_size=7,
                        progress=False)
    assert from_folder.dtype == torch.float32 and from_folder.shape == (20, 128)
    torch.testing.assert_close(from_folder, reference, rtol=1e-4, atol=1e-5)
    extracted = get_model(cfg, checkpoints['extracted'], device='cpu')
    torch.testing.assert_close(embed(extracted, paths, progress=False), reference,
                               rtol=1e-4, atol=1e-5)
    arrays = [cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) for path in paths[:4]]
    torch.testing.assert_close(embed(model, arrays, progress=False), reference[:4],
                               rtol=1e-4, atol=1e-5)
    # Pillow decodes JPEGs a little differently from OpenCV: close, not equal
    pil_images = [Image.open(path) for path in paths[:4]]
    from_pil = embed(model, pil_images, progress=False)
    cosine = torch.nn.functional.cosine_similarity(from_pil, reference[:4])
    assert (cosine > 0.99).all(), cosine


def test_checkpoints_load_strictly_and_random_init_is_seeded(sample_imagenet, checkpoints):
    cfg = small_knn_config(sample_imagenet)
    model = get_model(cfg, checkpoints['extracted'], device='cpu')
    for key, value in checkpoints['weights'].items():
        assert torch.equal(model.state_dict()[key], value), key
    state = torch.get_rng_state()
    first, second = get_model(cfg, device='cpu'), get_model(cfg, device='cpu')
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    assert torch.equal(first.conv1.weight, second.conv1.weight)
    assert not torch.equal(first.conv1.weight, model.conv1.weight)
    wrong = Config.fromfile(KNN_IMAGENET)  # a ResNet-50 for the ResNet-18's weights
    with pytest.raises(ValueError, match=r'backbone\.pth does not match the backbone'):
        get_model(wrong, checkpoints['extracted'], device='cpu')


def test_flat_unlabeled_folder_and_order(sample_imagenet, checkpoints, tmp_path):
    """A flat folder of the same images (no classes) gives the same vectors, one row per file
    in sorted path order; a nested folder without classes is read recursively."""
    cfg = small_knn_config(sample_imagenet)
    model = get_model(cfg, checkpoints['training'], device='cpu')
    paths = sample_paths(sample_imagenet)
    by_class_folders = embed(model, paths, progress=False)
    flat = tmp_path / 'flat'
    os.makedirs(flat / 'more')
    for path in paths[:15]:
        shutil.copy(path, flat)
    for path in paths[15:]:
        shutil.copy(path, flat / 'more')
    names = [osp.basename(path) for path in paths]
    order = sorted(range(20), key=lambda i: osp.join(str(flat), *(
        [names[i]] if i < 15 else ['more', names[i]])))
    torch.testing.assert_close(embed(model, str(flat), progress=False), by_class_folders[order])


def test_progress_bar_and_mode(sample_imagenet, checkpoints, capsys):
    model = get_model(small_knn_config(sample_imagenet), checkpoints['training'], device='cpu')
    paths = sample_paths(sample_imagenet)[:3]
    embed(model, paths, batch_size=2)
    assert 'embed' in capsys.readouterr().err
    model.train()
    embed(model, paths, progress=False)
    assert model.training  # the caller's mode is restored
    assert 'embed' not in capsys.readouterr().err


def test_vit_backbone(sample_imagenet):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'benchmarks', 'knn', 'vit-s16_knn_imagenet.py'))
    cfg.model.backbone.arch = dict(embed_dims=64, depth=2, num_heads=2)
    model = get_model(cfg, device='cpu')
    assert type(model).__name__ == 'VisionTransformer'
    features = embed(model, sample_paths(sample_imagenet)[:3], progress=False)
    assert features.shape == (3, 64) and torch.isfinite(features).all()


def test_bad_inputs_are_named(sample_imagenet, checkpoints, tmp_path):
    model = get_model(small_knn_config(sample_imagenet), checkpoints['training'], device='cpu')
    path = sample_paths(sample_imagenet)[0]
    with pytest.raises(TypeError, match='built by mmmoco.apis.get_model'):
        embed(MODELS.build(dict(type='ResNet', depth=18)), [path])
    with pytest.raises(FileNotFoundError, match=r"image 1: '.*nope\.jpg' does not exist"):
        embed(model, [path, str(tmp_path / 'nope.jpg')])
    with pytest.raises(FileNotFoundError, match=r'pass \[path\] for one image'):
        embed(model, path)
    with pytest.raises(ValueError, match='has no image files'):
        embed(model, str(tmp_path))
    with pytest.raises(TypeError, match='image 0: expected a uint8 array'):
        embed(model, [np.zeros((32, 32, 3), np.float32)], progress=False)
    with pytest.raises(TypeError, match=r'list\(batch\)'):
        embed(model, np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match='embed batch_size must be >= 1'):
        embed(model, [path], batch_size=0)
