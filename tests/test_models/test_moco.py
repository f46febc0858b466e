"""The MoCo algorithm: encoders, split BN on one device, Shuffle BN, a training step by hand."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.runner.checkpoint import load_state_dict as mmengine_load_state_dict

from mmmoco.models.algorithms import moco as moco_module
from mmmoco.models.utils import SplitBatchNorm2d
from mmmoco.registry import MODELS


def _cfg(**kwargs):
    cfg = dict(type='MoCo',
               backbone=dict(type='ResNet', depth=18, small_stem=True),
               neck=dict(type='MLPNeck', in_channels=512, hidden_channels=64, out_channels=16),
               queue=dict(type='KeyQueue', feat_dim=16, queue_len=20),
               head=dict(type='ContrastiveHead', temperature=0.2))
    cfg.update(kwargs)
    return cfg


def _moco(**kwargs):
    model = MODELS.build(_cfg(**kwargs))
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
    assert {'queue.keys', 'queue.ptr'} <= set(model.state_dict())


def test_loss_step_matches_manual_computation_and_enqueues_keys():
    torch.manual_seed(0)
    model = _moco(shuffle_bn=False, single_device_bn_splits=1)
    model.train()
    views = [torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8) for _ in range(2)]
    data = model.data_preprocessor(dict(inputs=views, data_samples=None), True)
    queue_before = model.queue.keys.clone()
    # the same computation by hand, on copies that see identical BN statistics
    q = F.normalize(model.neck(model.backbone(data['inputs'][0])), dim=1)
    with torch.no_grad():
        k = F.normalize(model.momentum_neck(model.momentum_backbone(data['inputs'][1])), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue_before.t()], 1) / 0.2
    expected = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    expected_acc = (logits.argmax(1) == 0).float().mean() * 100
    losses = model(**data, mode='loss')
    assert torch.equal(losses['loss'], expected)  # bit for bit the former head's value
    assert torch.allclose(losses['acc_top1'], expected_acc)
    assert torch.allclose(model.queue.keys[:4], k, atol=1e-5)
    assert int(model.queue.ptr) == 4
    # the accuracy is logged but not part of the optimised loss
    parsed, log_vars = model.parse_losses(losses)
    assert torch.equal(parsed, losses['loss']) and 'acc_top1' in log_vars
    parsed.backward()
    assert model.backbone.conv1.weight.grad is not None
    assert model.momentum_backbone.conv1.weight.grad is None


def test_shuffle_bn_keys_take_statistics_from_their_shuffled_sub_batch():
    """With 2 split-BN sub-batches of 4 (samples 0-3 and 4-7), a key's BN statistics come from
    the 4 samples it is shuffled with, not from the 4 samples of its own (query) sub-batch."""
    torch.manual_seed(0)
    model = _moco(single_device_bn_splits=2)
    model.train()
    images = torch.randn(8, 3, 16, 16)
    seed = 3
    torch.manual_seed(seed)
    perm = torch.randperm(8)  # the permutation shuffle_batch draws after the same seed
    position = int((perm == 0).nonzero())
    start = position // 4 * 4  # the contiguous sub-batch that sample 0's key lands in
    key_group = set(perm[start:start + 4].tolist())
    outside = sorted({1, 2, 3} - key_group)  # in sample 0's query sub-batch, not its key's
    inside = sorted(key_group - {0})
    assert outside and inside

    def keys_of(batch):
        torch.manual_seed(seed)
        return model._keys(batch)[0]

    keys = keys_of(images)
    with torch.no_grad():
        shuffled = F.normalize(model.momentum_neck(model.momentum_backbone(images[perm])), dim=1)
    expected = torch.empty_like(shuffled)
    expected[perm] = shuffled
    assert torch.allclose(keys, expected, atol=1e-6)
    assert torch.allclose(keys.norm(dim=1), torch.ones(8), atol=1e-5)

    changed = images.clone()
    changed[outside[0]] += 1.0
    assert torch.allclose(keys_of(changed)[0], keys[0], atol=1e-6)
    changed = images.clone()
    changed[inside[0]] += 1.0
    assert not torch.allclose(keys_of(changed)[0], keys[0], atol=1e-4)


def test_tensor_mode_returns_backbone_features():
    model = _moco().eval()
    feats = model(torch.randn(2, 3, 16, 16), mode='tensor')
    assert isinstance(feats, tuple) and feats[-1].shape == (2, 512, 2, 2)


def test_checkpoints_with_the_queue_in_the_head_still_load():
    model = _moco()
    state = model.state_dict()
    state['head.queue'] = state.pop('queue.keys') * 0 + 0.5
    state['head.queue_ptr'] = state.pop('queue.ptr') + 7
    fresh = _moco()
    fresh.load_state_dict(state)
    assert torch.all(fresh.queue.keys == 0.5) and int(fresh.queue.ptr) == 7
    fresh.queue.enqueue(F.normalize(torch.ones(1, 16), dim=1))
    assert int(fresh.queue.ptr) == 8
    # mmengine's loader (Runner.resume, load_checkpoint) walks the modules on its own
    resumed = _moco()
    mmengine_load_state_dict(resumed, state, strict=True)
    assert torch.all(resumed.queue.keys == 0.5) and int(resumed.queue.ptr) == 7
    resumed.queue.enqueue(F.normalize(torch.ones(2, 16), dim=1))
    assert int(resumed.queue.ptr) == 9


def test_sync_bn_with_shuffle_bn_is_refused_under_ddp(monkeypatch):
    monkeypatch.setattr(moco_module, 'is_distributed', lambda: True)
    sync_backbone = dict(type='ResNet', depth=18, small_stem=True, norm_cfg=dict(type='SyncBN'))
    with pytest.raises(ValueError, match=r'model.backbone has SyncBN.*undoes Shuffle BN'):
        MODELS.build(_cfg(backbone=sync_backbone))
    # without Shuffle BN the combination is legitimate
    MODELS.build(_cfg(backbone=sync_backbone, shuffle_bn=False))
    # and on one device split BN replaces SyncBN anyway
    monkeypatch.setattr(moco_module, 'is_distributed', lambda: False)
    MODELS.build(_cfg(backbone=sync_backbone))


def test_hyper_parameters_are_checked_at_build_time():
    with pytest.raises(ValueError, match=r'queue.feat_dim=32 must equal model.neck.out_channels'):
        MODELS.build(_cfg(queue=dict(type='KeyQueue', feat_dim=32, queue_len=20)))
    with pytest.raises(TypeError, match='queue_len'):
        MODELS.build(_cfg(queue=dict(type='KeyQueue', feat_dim=16, queue_len='abc')))
    with pytest.raises(ValueError, match='temperature'):
        MODELS.build(_cfg(head=dict(type='ContrastiveHead', temperature=float('nan'))))
    with pytest.raises(ValueError, match='single_device_bn_splits'):
        MODELS.build(_cfg(single_device_bn_splits=0))


def test_configs_of_the_former_queue_head_are_refused_with_the_new_layout():
    legacy = dict(type='MoCoQueueHead', feat_dim=16, queue_len=20, temperature=0.2)
    with pytest.raises(ValueError, match=r"model.queue=dict\(type='KeyQueue'"):
        MODELS.build(_cfg(head=legacy, queue=None))
    # an old --cfg-options model.head.queue_len=... on the new base config
    with pytest.raises(ValueError, match='model.queue.queue_len'):
        MODELS.build(_cfg(head=dict(type='ContrastiveHead', queue_len=16)))
