"""Float32 embeddings and logits under bf16 autocast, the symmetric loss and multi-crop."""
import pytest
import torch
import torch.nn.functional as F

from mmmoco.models.algorithms import moco as moco_module
from mmmoco.registry import MODELS

from mocov3_helpers import build_v3


def _moco(symmetric: bool = False, shuffle_bn: bool = False, splits: int = 1):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MoCo', symmetric=symmetric, shuffle_bn=shuffle_bn, single_device_bn_splits=splits,
        backbone=dict(type='ResNet', depth=18, small_stem=True, base_channels=8),
        neck=dict(type='MLPNeck', in_channels=64, hidden_channels=32, out_channels=16),
        queue=dict(type='KeyQueue', feat_dim=16, queue_len=32),
        head=dict(type='ContrastiveHead', temperature=0.07)))
    model.init_weights()
    return model.train()


def _views(n: int = 4, sizes=(16, 16), seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, s, s, generator=generator) for s in sizes]


def _record(module, store: list, pre: bool = False):
    """Record a module's (first positional) input or its output at every call."""
    if pre:
        return module.register_forward_pre_hook(lambda m, args: store.append(args[0].detach()))
    return module.register_forward_hook(
        lambda m, args, out: store.append(tuple(o.detach() for o in out)))


def _ctr(q, k, queue, tau):
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / tau
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))


def test_moco_logits_are_float32_under_bf16_autocast():
    model = _moco()
    feats_q, feats_k, logits = [], [], []
    hooks = [_record(model.backbone, feats_q), _record(model.momentum_backbone, feats_k),
             _record(model.head, logits, pre=True)]
    queue = model.queue.keys.clone()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        model.loss(_views())
    for hook in hooks:
        hook.remove()
    assert feats_q[0][-1].dtype == torch.bfloat16  # the backbone ran in bf16
    assert logits[0].dtype == torch.float32
    with torch.no_grad():
        q = F.normalize(model.neck(tuple(f.float() for f in feats_q[0])), dim=1)
        k = F.normalize(model.momentum_neck(tuple(f.float() for f in feats_k[0])), dim=1)
        expected = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1)
        # what the former code computed: neck and products under autocast
        with torch.autocast('cpu', dtype=torch.bfloat16):
            q16 = F.normalize(model.neck(feats_q[0]), dim=1)
            k16 = F.normalize(model.momentum_neck(feats_k[0]), dim=1)
            rounded = torch.cat([(q16 * k16).sum(1, keepdim=True), q16 @ queue.t()], 1)
    assert torch.allclose(logits[0], expected, atol=1e-5, rtol=0)
    assert (rounded.float() - expected).abs().max() > 1e-3  # the test can tell them apart


def test_mocov3_logits_are_float32_under_bf16_autocast():
    model = build_v3(backbone=dict(type='ResNet', depth=18, small_stem=True, base_channels=8),
                     neck=dict(type='MLPNeck', in_channels=64, hidden_channels=32,
                               out_channels=16, num_layers=2, norm_cfg=dict(type='BN'),
                               last_norm_cfg=dict(type='BN', affine=False)),
                     predictor=dict(type='MLPNeck', in_channels=16, hidden_channels=32,
                                    out_channels=16, num_layers=2, norm_cfg=dict(type='BN')))
    model.train()
    feats_q, feats_k, logits = [], [], []
    hooks = [_record(model.backbone, feats_q), _record(model.momentum_backbone, feats_k),
             _record(model.head, logits, pre=True)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        model.loss(_views())
    for hook in hooks:
        hook.remove()
    assert feats_q[0][-1].dtype == torch.bfloat16
    with torch.no_grad():
        q1 = F.normalize(model.predictor(model.neck(tuple(f.float() for f in feats_q[0]))), dim=1)
        k2 = F.normalize(model.momentum_neck(tuple(f.float() for f in feats_k[1])), dim=1)
    assert logits[0].dtype == torch.float32
    assert torch.allclose(logits[0], q1 @ k2.t(), atol=1e-5, rtol=0)


def test_symmetric_loss_is_the_sum_of_both_orders_and_enqueues_both_keys():
    model = _moco(symmetric=True)
    views = _views()
    queue = model.queue.keys.clone()
    losses = model.loss(views)
    enqueued = model.queue.keys[:8].clone()
    assert int(model.queue.ptr) == 8  # 2 x the batch of 4
    # the same computation by hand, on the same BN statistics (one pass per view)
    q1, q2 = (F.normalize(model.neck(model.backbone(v)), dim=1) for v in views)
    with torch.no_grad():
        k1, k2 = (F.normalize(model.momentum_neck(model.momentum_backbone(v)), dim=1)
                  for v in views)
    expected = _ctr(q1, k2, queue, 0.07) + _ctr(q2, k1, queue, 0.07)
    assert torch.allclose(losses['loss'], expected, atol=1e-6)
    assert torch.allclose(enqueued, torch.cat([k1, k2]), atol=1e-6)
    # the default stays the paper's asymmetric loss: one order, the batch once into the queue
    plain = _moco()
    plain.loss(views)
    assert int(plain.queue.ptr) == 4


def test_symmetric_loss_shuffles_every_key_batch(monkeypatch):
    calls = []
    original = moco_module.shuffle_batch

    def counting(images):
        calls.append(images.shape[0])
        return original(images)

    monkeypatch.setattr(moco_module, 'shuffle_batch', counting)
    model = _moco(symmetric=True, shuffle_bn=True, splits=2)
    model.loss(_views(n=4, sizes=(16, 16, 8)))
    assert calls == [4, 4]  # both global key batches, never the small views
    calls.clear()
    _moco(shuffle_bn=True, splits=2).loss(_views())
    assert calls == [4]


def test_multi_crop_loss_matches_a_direct_computation_and_trains_only_the_query_encoder():
    model = _moco(symmetric=True)
    views = _views(n=4, sizes=(16, 16, 8, 8))
    queue = model.queue.keys.clone()
    losses = model.loss(views)
    losses['loss'].backward()
    assert model.backbone.conv1.weight.grad is not None
    assert all(p.grad is None for p in model.momentum_backbone.parameters())
    assert all(p.grad is None for p in model.momentum_neck.parameters())
    model.zero_grad()
    model.queue.keys.copy_(queue)
    with torch.no_grad():
        q1, q2 = (F.normalize(model.neck(model.backbone(v)), dim=1) for v in views[:2])
        small = F.normalize(model.neck(model.backbone(torch.cat(views[2:]))), dim=1)
        s1, s2 = small.split(4)
        k1, k2 = (F.normalize(model.momentum_neck(model.momentum_backbone(v)), dim=1)
                  for v in views[:2])
    pairs = [(q1, k2), (q2, k1), (s1, k1), (s1, k2), (s2, k1), (s2, k2)]
    expected = 2 * torch.stack([_ctr(q, k, queue, 0.07) for q, k in pairs]).mean()
    assert torch.allclose(losses['loss'], expected, atol=1e-6)
    assert int(model.queue.ptr) == 8  # only the keys of the two global views


def test_small_views_need_the_symmetric_loss_and_matching_batches():
    with pytest.raises(ValueError, match='exactly 2 views'):
        _moco().loss(_views(sizes=(16, 16, 8)))
    with pytest.raises(ValueError, match='global views'):
        _moco(symmetric=True).loss(_views(sizes=(16, 8, 8)))
    views = _views(sizes=(16, 16, 8))
    views[2] = views[2][:3]
    with pytest.raises(ValueError, match='same images'):
        _moco(symmetric=True).loss(views)
    with pytest.raises(TypeError, match='model.symmetric'):
        MODELS.build(dict(type='MoCo', symmetric='yes',
                          backbone=dict(type='ResNet', depth=18),
                          neck=dict(type='LinearNeck', in_channels=512, out_channels=16),
                          queue=dict(type='KeyQueue', feat_dim=16, queue_len=32),
                          head=dict(type='ContrastiveHead')))


def test_mocov3_multi_crop_scores_small_views_against_both_global_keys():
    model = build_v3()
    model.train()
    views = _views(n=4, sizes=(16, 16, 8, 8))
    losses = model.loss(views)
    losses['loss'].backward()
    assert all(p.grad is None for p in model.momentum_backbone.parameters())
    model.zero_grad()
    tau = model.head.temperature

    def ctr(q, k):
        logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).t() / tau
        return F.cross_entropy(logits, torch.arange(4)) * 2 * tau

    with torch.no_grad():
        embed = lambda x: model.predictor(model.neck(model.backbone(x)))  # noqa: E731
        q1, q2 = embed(views[0]), embed(views[1])
        s1, s2 = embed(torch.cat(views[2:])).split(4)
        k1, k2 = (model.momentum_neck(model.momentum_backbone(v)) for v in views[:2])
    pairs = [(q1, k2), (q2, k1), (s1, k1), (s1, k2), (s2, k1), (s2, k2)]
    expected = 2 * torch.stack([ctr(q, k) for q, k in pairs]).mean()
    assert torch.allclose(losses['loss'], expected, atol=1e-6)
    two_views = model.loss(views[:2])['loss']
    with torch.no_grad():
        q1, q2 = embed(views[0]), embed(views[1])
    assert torch.allclose(two_views, ctr(q1, k2) + ctr(q2, k1), atol=1e-6)
