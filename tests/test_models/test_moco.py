"""The MoCo algorithm: encoders, split BN on one device, a training step by hand."""
import torch
import torch.nn.functional as F

from mmmoco.models.utils import SplitBatchNorm2d
from mmmoco.registry import MODELS


def _moco(**kwargs):
    cfg = dict(type='MoCo',
               backbone=dict(type='ResNet', depth=18, small_stem=True),
               neck=dict(type='MLPNeck', in_channels=512, hidden_channels=64, out_channels=16),
               head=dict(type='MoCoQueueHead', feat_dim=16, queue_len=20, temperature=0.2))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_key_encoder_is_a_frozen_copy_with_split_bn():
    model = _moco(single_device_bn_splits=4)
    for (online, target) in model.momentum_pairs():
        for p_online, p_target in zip(online.parameters(), target.parameters()):
            assert torch.equal(p_online, p_target) and not p_target.requires_grad
    bns = [m for m in model.momentum_backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(isinstance(m, SplitBatchNorm2d) and m.num_splits == 4 for m in bns)
    plain = _moco(single_device_bn_splits=1)
    assert not any(isinstance(m, SplitBatchNorm2d) for m in plain.modules())
    assert set(model.state_dict()) == set(plain.state_dict())


def test_loss_step_matches_manual_computation_and_enqueues_keys():
    torch.manual_seed(0)
    model = _moco(shuffle_bn=False, single_device_bn_splits=1)
    model.train()
    views = [torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=views, data_samples=None), True)
    queue_before = model.head.queue.clone()
    # the same computation by hand, on copies that see identical BN statistics
    q = F.normalize(model.neck(model.backbone(data['inputs'][0])), dim=1)
    with torch.no_grad():
        k = F.normalize(model.momentum_neck(model.momentum_backbone(data['inputs'][1])), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue_before.t()], 1) / 0.2
    expected = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    loss = model(**data, mode='loss')['loss']
    assert torch.allclose(loss, expected, atol=1e-5)
    assert torch.allclose(model.head.queue[:4], k, atol=1e-5)
    assert int(model.head.queue_ptr) == 4
    loss.backward()
    assert model.backbone.conv1.weight.grad is not None
    assert model.momentum_backbone.conv1.weight.grad is None


def test_shuffle_bn_keys_do_not_depend_on_batch_order_statistics():
    """With split BN + shuffle, keys differ from unshuffled split-BN keys (stats change)."""
    torch.manual_seed(0)
    model = _moco(single_device_bn_splits=2)
    model.train()
    images = torch.randn(8, 3, 16, 16)
    torch.manual_seed(1)
    keys = model._keys(images)
    assert keys.shape == (8, 16)
    assert torch.allclose(keys.norm(dim=1), torch.ones(8), atol=1e-5)
    model.shuffle_bn = False
    unshuffled = model._keys(images)
    assert not torch.allclose(keys, unshuffled, atol=1e-4)


def test_tensor_mode_returns_backbone_features():
    model = _moco().eval()
    feats = model(torch.randn(2, 3, 16, 16), mode='tensor')
    assert isinstance(feats, tuple) and feats[-1].shape == (2, 512, 2, 2)
