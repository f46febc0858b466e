"""Issue 20, item 5: a misspelled nested key stops the run before anything is built, with one
line naming the key and the closest argument of the constructor it goes to."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT
from mmmoco.apis.config_checks import ConfigCheckError, check_config
from mmmoco.apis.key_suggestions import check_constructor_keys, constructor_arguments
from mmmoco.models.utils import SplitBatchNorm2d

DEMO = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py')
MOCOV3 = osp.join(ROOT, 'configs', 'mocov3_r50_8xb512-amp-coslr-100e_in1k.py')
DETECTION = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'voc0712',
                     'faster-rcnn_r50-c4_8xb2-24k_voc0712.py')


def _checked(path: str, key: str, value=1) -> None:
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({key: value})
    check_config(cfg, {key: value})


#: (config, misspelled key, the one-line message).
MISSPELLED = [
    (DEMO, 'train_cfg.max_epoch',
     "train_cfg.max_epoch: ExactResumeEpochBasedTrainLoop has no argument 'max_epoch' "
     "(did you mean 'max_epochs'?)"),
    (DEMO, 'val_cfg.fp61', "val_cfg.fp61: ValLoop has no argument 'fp61' (did you mean 'fp16'?)"),
    (DEMO, 'optim_wrapper.optimizer.weight_decy',
     "optim_wrapper.optimizer.weight_decy: SGD has no argument 'weight_decy' "
     "(did you mean 'weight_decay'?)"),
    (MOCOV3, 'optim_wrapper.optimizer.trust_coef',
     "optim_wrapper.optimizer.trust_coef: LARS has no argument 'trust_coef' "
     "(did you mean 'trust_coefficient'?)"),
    (DEMO, 'train_dataloader.num_worker',
     "train_dataloader.num_worker: DataLoader has no argument 'num_worker' "
     "(did you mean 'num_workers'?)"),
    (DEMO, 'model.backbone.dept',
     "model.backbone.dept: ResNet has no argument 'dept' (did you mean 'depth'?)"),
    (DEMO, 'model.neck.hiden_channels',
     "model.neck.hiden_channels: MLPNeck has no argument 'hiden_channels' "
     "(did you mean 'hidden_channels'?)"),
    (DEMO, 'model.data_preprocessor.channel_last',
     "model.data_preprocessor.channel_last: SelfSupDataPreprocessor has no argument "
     "'channel_last' (did you mean 'channels_last'?)"),
    (DEMO, 'model.shufle_bn',
     "model.shufle_bn: MoCo has no argument 'shufle_bn' (did you mean 'shuffle_bn'?)"),
]


@pytest.mark.parametrize('path, key, message', MISSPELLED, ids=[key for _, key, _ in MISSPELLED])
def test_misspelled_nested_key_names_the_close_match(path, key, message):
    with pytest.raises(ConfigCheckError) as error:
        _checked(path, key)
    assert str(error.value) == message


def test_loop_without_type_is_mmengines_default_loop():
    cfg = Config.fromfile(DEMO)
    cfg.train_cfg = dict(by_epoch=False, max_iter=10)
    with pytest.raises(ConfigCheckError, match=r"IterBasedTrainLoop has no argument 'max_iter' "
                                               r"\(did you mean 'max_iters'\?\)"):
        check_constructor_keys(cfg)
    cfg.train_cfg = dict(by_epoch=False, max_iters=10)
    check_constructor_keys(cfg)


def test_layer_configs_and_kwargs_classes_are_not_checked():
    """``*_cfg`` dicts are read by their builders with extra keys (``requires_grad``); a class
    taking **kwargs may take any key."""
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict({'model.backbone.norm_cfg.requires_grad': True})
    check_constructor_keys(cfg)
    assert constructor_arguments(SplitBatchNorm2d) is None


def test_library_configs_are_checked_in_their_own_scope():
    """mmdet's ResNet takes ``style``; a typo in it is named with mmdet's class."""
    pytest.importorskip('mmdet')
    cfg = Config.fromfile(DETECTION)
    check_constructor_keys(cfg)
    cfg.merge_from_dict({'model.backbone.styel': 'pytorch'})
    with pytest.raises(ConfigCheckError, match=r"model\.backbone\.styel: ResNet has no argument "
                                               r"'styel' \(did you mean 'style'\?\)"):
        check_constructor_keys(cfg)


def test_train_py_stops_with_one_line_before_building_anything(tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/train.py', DEMO, '--work-dir', str(tmp_path),
         '--cfg-options', 'train_cfg.max_epoch=1'], cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode != 0
    assert result.stdout == ''
    assert result.stderr.strip().splitlines() == [
        f"{DEMO}: train_cfg.max_epoch: ExactResumeEpochBasedTrainLoop has no argument "
        "'max_epoch' (did you mean 'max_epochs'?)"]
    assert os.listdir(tmp_path) == []
