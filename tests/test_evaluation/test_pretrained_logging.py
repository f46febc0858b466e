"""What the frozen-backbone tools tell the user: the pretrained load is logged, mmengine's
per-parameter init records are not, and feature extraction shows progress; weights of another
dtype kind or with NaN/Inf are refused, a precision change is logged."""
import logging
from contextlib import contextmanager
from typing import Iterator, List

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmmoco.evaluation import extract_features
from mmmoco.models.utils.pretrained import load_pretrained_backbone
from mmmoco.evaluation.frozen_backbone import build_frozen_backbone
from mmmoco.registry import MODELS

BACKBONE = dict(type='ResNet', depth=18, small_stem=True, base_channels=16)


class ListHandler(logging.Handler):
    """Keeps the message of every INFO (or higher) record."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def logged() -> Iterator[List[str]]:
    """The messages the current mmengine logger handles inside the block."""
    logger = MMLogger.get_current_instance()
    handler = ListHandler()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def saved_backbone(tmp_path) -> str:
    """A training-style checkpoint of a small backbone (keys under ``backbone.``)."""
    torch.manual_seed(1)
    backbone = MODELS.build(BACKBONE)
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()}},
               path)
    return path


def test_load_names_file_module_and_tensor_count(tmp_path):
    path = saved_backbone(tmp_path)
    backbone = MODELS.build(BACKBONE)
    with logged() as messages:
        count = load_pretrained_backbone(backbone, path, 'model.backbone')
    assert count == len(backbone.state_dict()) > 100
    [message] = [m for m in messages if 'Pretrained weights loaded' in m]
    assert f'{count} tensors from {path} into model.backbone (ResNet' in message


def test_frozen_backbone_logs_the_load_but_not_the_init_records(tmp_path):
    cfg = Config(dict(model=dict(backbone=BACKBONE,
                                 data_preprocessor=dict(type='SelfSupDataPreprocessor'))))
    with logged() as messages:
        build_frozen_backbone(cfg, None, torch.device('cpu'))
    assert not any('init_weights' in m or 'Initialized by' in m for m in messages), messages[:3]
    logger = MMLogger.get_current_instance()
    level = logger.level
    with logged() as messages:
        build_frozen_backbone(cfg, saved_backbone(tmp_path), torch.device('cpu'))
    assert len(messages) == 1 and 'Pretrained weights loaded' in messages[0]
    assert logger.level == level  # the quiet block gives the level back


def test_feature_extraction_shows_a_progress_bar(capsys):
    backbone = MODELS.build(BACKBONE).eval()
    preprocessor = MODELS.build(dict(type='SelfSupDataPreprocessor'))
    from mmmoco.structures import DataSample
    batches = [dict(inputs=[torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)] * 2,
                    data_samples=[DataSample(metainfo=dict(sample_idx=2 * i + j)).set_gt_label(0)
                                  for j in range(2)]) for i in range(3)]
    feats, labels = extract_features(backbone, preprocessor, batches, progress='kNN bank')
    assert feats.shape == (6, 128) and labels.tolist() == [0] * 6
    err = capsys.readouterr().err
    assert 'kNN bank' in err and '3/3' in err
    extract_features(backbone, preprocessor, batches)
    assert capsys.readouterr().err == ''


def _corrupt(path: str, key: str, change) -> str:
    """The checkpoint at ``path`` with ``change`` applied to its tensor ``key``."""
    checkpoint = torch.load(path)
    checkpoint['state_dict'][key] = change(checkpoint['state_dict'][key])
    torch.save(checkpoint, path)
    return path


def test_knn_and_linear_loaders_refuse_non_finite_weights(tmp_path):
    """Issue 17, item 5: a NaN BN running_var used to give a kNN top-1 of 7.5, written as a
    result; the frozen backbone (kNN, linear probe) and the linear classifier's
    ``model.pretrained`` refuse it, naming the key."""
    path = _corrupt(saved_backbone(tmp_path), 'backbone.bn1.running_var',
                    lambda value: value.index_fill(0, torch.tensor([0, 3]), float('nan')))
    cfg = Config(dict(model=dict(backbone=BACKBONE,
                                 data_preprocessor=dict(type='SelfSupDataPreprocessor'))))
    message = rf'cannot load {path}: 1 tensor\(s\) with non-finite values: bn1\.running_var ' \
              r'\(2 NaN, 0 Inf\)'
    with pytest.raises(ValueError, match=message):
        build_frozen_backbone(cfg, path, torch.device('cpu'))
    classifier = MODELS.build(dict(type='ImageClassifier', backbone=BACKBONE, num_classes=10,
                                   in_channels=128, pretrained=path))
    with pytest.raises(ValueError, match=message):
        classifier.init_weights()


def test_integer_weights_are_refused_and_half_precision_is_logged(tmp_path):
    backbone = MODELS.build(BACKBONE)
    path = _corrupt(saved_backbone(tmp_path), 'backbone.conv1.weight', lambda value: value.long())
    with pytest.raises(ValueError, match=r'conv1\.weight: torch\.int64 in the file, '
                                         r'torch\.float32 in the model'):
        load_pretrained_backbone(backbone, path)
    half = str(tmp_path / 'half.pth')
    state = torch.load(saved_backbone(tmp_path))['state_dict']
    torch.save(dict(state_dict={key: value.half() if value.is_floating_point() else value
                                for key, value in state.items()}), half)
    floats = sum(value.is_floating_point() for value in state.values())
    with logged() as messages:
        load_pretrained_backbone(backbone, half)
    assert [m for m in messages if 'converted' in m] == [
        f"{half}: {floats} tensor(s) stored as torch.float16 converted to the model's "
        'torch.float32']
