"""ImageClassifier: linear evaluation freezes the backbone completely (BN statistics too)."""
import pytest
import torch

from mmmoco.registry import MODELS
from mmmoco.structures import DataSample


def _classifier(**kwargs):
    cfg = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18, small_stem=True),
               in_channels=512, num_classes=3)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _batch(n=6):
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8)
    samples = [DataSample().set_gt_label(i % 3) for i in range(n)]
    return dict(inputs=images, data_samples=samples)


def test_linear_eval_trains_only_the_fc_and_keeps_bn_statistics():
    model = _classifier().train()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    fc_before = model.fc.weight.clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    assert all(not p.requires_grad for p in model.backbone.parameters())
    for _ in range(3):
        data = model.data_preprocessor(_batch(), True)
        loss = model(**data, mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not model.backbone.training and model.fc.training
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key  # weights and BN running stats
    assert not torch.equal(model.fc.weight, fc_before)


def test_fine_tuning_updates_the_backbone():
    model = _classifier(freeze_backbone=False).train()
    assert model.backbone.training
    data = model.data_preprocessor(_batch(), True)
    model(**data, mode='loss')['loss'].backward()
    assert model.backbone.conv1.weight.grad is not None


def test_predict_sets_scores_and_pretrained_mismatch_is_loud(tmp_path):
    model = _classifier().eval()
    data = model.data_preprocessor(_batch(2), False)
    out = model(**data, mode='predict')
    assert out[0].pred_score.shape == (3, ) and torch.isclose(out[0].pred_score.sum(),
                                                              torch.tensor(1.0))
    bad = tmp_path / 'r50.pth'
    torch.save({'state_dict': MODELS.build(dict(type='ResNet', depth=50)).state_dict()}, bad)
    with pytest.raises(ValueError, match='does not match the backbone'):
        _classifier(pretrained=str(bad))


def test_feature_norm_standardises_pooled_features_in_the_head():
    model = _classifier(feature_norm=True).train()
    data = model.data_preprocessor(_batch(8), True)
    feats = model.feature_norm(model.extract_feat(data['inputs']))
    assert torch.allclose(feats.mean(0), torch.zeros(512), atol=1e-4)
    assert not any(p.requires_grad for p in model.feature_norm.parameters())
    assert model.feature_norm.training and not model.backbone.training
