"""MoCoV3: the loss against the reference formula (one process and a 2-rank gloo group), its
symmetry, the frozen key branch, hyper-parameter checks, and train_step with mmengine's
OptimWrapper and mmmoco's AmpOptimWrapper (bfloat16 on CPU)."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.optim import OptimWrapper

from conftest import free_port
from mmmoco.engine.optimizers import LARS, AmpOptimWrapper
from mmmoco.registry import MODELS
from mocov3_helpers import build_v3, reference_ctr, v3_cfg


def _views(n: int, seed: int, size: int = 8):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=gen) for _ in range(2)]


def _embed(model, x1, x2):
    """Queries and keys of both views by hand, through the model's own modules."""
    q1 = model.predictor(model.neck(model.backbone(x1)))
    q2 = model.predictor(model.neck(model.backbone(x2)))
    with torch.no_grad():
        k1 = model.momentum_neck(model.momentum_backbone(x1))
        k2 = model.momentum_neck(model.momentum_backbone(x2))
    return q1, q2, k1, k2


def test_key_branch_is_an_exact_frozen_copy_without_predictor():
    torch.manual_seed(0)
    model = MODELS.build(v3_cfg())
    model.init_weights()
    for online, target in model.momentum_pairs():
        assert all(not p.requires_grad for p in target.parameters())
        for (name, a), (_, b) in zip(online.state_dict().items(),
                                     target.state_dict().items()):
            assert torch.equal(a, b), name
    assert [type(o).__name__ for o, _ in model.momentum_pairs()] == ['TinyTokenBackbone',
                                                                     'MLPNeck']
    assert not any(k.startswith('momentum_predictor') for k in model.state_dict())
    assert not hasattr(model, 'queue')


@pytest.mark.parametrize('temperature', [1.0, 0.2])
def test_loss_equals_the_reference_formula_on_one_process(temperature):
    model = build_v3(temperature=temperature)
    x1, x2 = _views(6, seed=1)
    q1, q2, k1, k2 = _embed(model, x1, x2)
    expected = (reference_ctr(q1, k2, temperature) + reference_ctr(q2, k1, temperature))
    losses = model.loss([x1, x2])
    assert torch.allclose(losses['loss'], expected, atol=1e-6)
    logits = [torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(k, dim=1).t()
              for q, k in ((q1, k2), (q2, k1))]
    accuracy = sum((s.argmax(1) == torch.arange(6)).float().mean() * 100 for s in logits) / 2
    assert torch.allclose(losses['acc_top1'], accuracy)


def test_symmetric_loss_is_the_sum_of_both_orders():
    """The docstring defines loss = ctr(q1, k2) + ctr(q2, k1) (the reference sums, each term
    already scaled by 2 * tau); swapping the views gives the same loss."""
    model = build_v3()
    x1, x2 = _views(5, seed=2)
    q1, q2, k1, k2 = _embed(model, x1, x2)
    order_12, _ = model.contrastive_loss(q1, k2)
    order_21, _ = model.contrastive_loss(q2, k1)
    assert not torch.allclose(order_12, order_21)  # the two orders really differ
    loss = model.loss([x1, x2])['loss']
    assert torch.allclose(loss, order_12 + order_21, atol=1e-6)
    assert torch.allclose(model.loss([x2, x1])['loss'], loss, atol=1e-6)


def test_no_gradient_reaches_the_key_branch():
    model = build_v3()
    # even if someone made the key encoder trainable, the loss must not reach it
    for _, target in model.momentum_pairs():
        target.requires_grad_(True)
    model.loss(_views(4, seed=3))['loss'].backward()
    for _, target in model.momentum_pairs():
        assert all(p.grad is None for p in target.parameters())
    for part in (model.backbone, model.neck, model.predictor):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0


def _build_error(cfg: dict) -> str:
    """The message of the ValueError that building ``cfg`` raises ('' if it builds)."""
    try:
        MODELS.build(cfg)
    except ValueError as error:
        return str(error)
    return ''


def _moco_cfg(**kwargs) -> dict:
    cfg = dict(type='MoCo', backbone=dict(type='ResNet', depth=18, small_stem=True,
                                          base_channels=4, norm_cfg=dict(type='SyncBN')),
               neck=dict(type='LinearNeck', in_channels=32, out_channels=8),
               queue=dict(type='KeyQueue', feat_dim=8, queue_len=16),
               head=dict(type='ContrastiveHead', temperature=0.2))
    cfg.update(kwargs)
    return cfg


def _two_rank_worker(rank: int, port: int, out_dir: str) -> None:
    from mmmoco.apis import register_all_modules
    register_all_modules()
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    sizes, temperature = [3, 2], 0.5  # unequal: rank 1's positives start at global index 3
    model = build_v3(norm='LN', temperature=temperature)
    x1, x2 = _views(sum(sizes), seed=4)
    start = sum(sizes[:rank])
    local = [x[start:start + sizes[rank]] for x in (x1, x2)]
    loss = model.loss(local)['loss']
    # the reference on the global batch: keys of both ranks, positives at the global index
    q1, q2, _, _ = _embed(model, *local)
    _, _, k1, k2 = _embed(model, x1, x2)
    expected = (reference_ctr(q1, k2, temperature, start)
                + reference_ctr(q2, k1, temperature, start))
    local_only = (reference_ctr(q1, k2[start:start + sizes[rank]], temperature)
                  + reference_ctr(q2, k1[start:start + sizes[rank]], temperature))
    torch.save(dict(loss=loss.detach(), expected=expected.detach(),
                    local_only=local_only.detach(),
                    chunk_error=_build_error(v3_cfg(chunk_size=2)),
                    sync_shuffle_error=_build_error(_moco_cfg()),
                    sync_plain_error=_build_error(_moco_cfg(shuffle_bn=False))),
               f'{out_dir}/rank{rank}.pt')
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    """Results of :func:`_two_rank_worker` on both ranks of a 2-process gloo group."""
    out_dir = tmp_path_factory.mktemp('two_ranks')
    mp.spawn(_two_rank_worker, args=(free_port(), str(out_dir)), nprocs=2, join=True)
    return [torch.load(out_dir / f'rank{rank}.pt') for rank in range(2)]


def test_loss_gathers_the_keys_of_two_ranks(two_ranks):
    for rank, result in enumerate(two_ranks):
        assert torch.allclose(result['loss'], result['expected'], atol=1e-6), rank
        # without the other rank's keys the loss would differ
        assert not torch.allclose(result['loss'], result['local_only'], atol=1e-3), rank


def test_ddp_refuses_chunking_and_sync_bn_with_shuffle_bn(two_ranks):
    """Under a real (gloo) process group: gradient caching is single-device only, and MoCo
    v1/v2 refuse SyncBN in a Shuffle-BN key encoder (it would make BN statistics global)."""
    for result in two_ranks:
        assert 'chunk_size' in result['chunk_error'] and 'DDP' in result['chunk_error']
        assert 'model.backbone has SyncBN' in result['sync_shuffle_error']
        assert 'undoes Shuffle BN' in result['sync_shuffle_error']
        assert result['sync_plain_error'] == ''  # without Shuffle BN, SyncBN is legitimate


def test_hyper_parameters_are_checked_at_build_time():
    bad_predictor = dict(type='MLPNeck', in_channels=6, hidden_channels=16, out_channels=8)
    with pytest.raises(ValueError, match=r'predictor.in_channels=6 must equal '
                                         r'model.neck.out_channels=8'):
        MODELS.build(v3_cfg(predictor=bad_predictor))
    with pytest.raises(ValueError, match='temperature'):
        MODELS.build(v3_cfg(temperature=float('nan')))
    with pytest.raises(TypeError, match='chunk_size'):
        MODELS.build(v3_cfg(chunk_size='abc'))
    with pytest.raises(ValueError, match='chunk_size'):
        MODELS.build(v3_cfg(chunk_size=0))
    with pytest.raises(ValueError, match='at least 2 views'):
        build_v3().loss(_views(2, seed=0)[:1])


def _uint8_batch(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return dict(inputs=[torch.randint(0, 256, (n, 3, 8, 8), generator=gen, dtype=torch.uint8)
                        for _ in range(2)], data_samples=None)


def _parameters(module):
    return [p.detach().clone() for p in module.parameters()]


def test_train_step_with_optim_wrapper_and_lars():
    model = build_v3()
    wrapper = OptimWrapper(LARS(model.parameters(), lr=0.5, weight_decay=1e-6))
    online, frozen = _parameters(model.backbone), _parameters(model.momentum_backbone)
    log_vars = model.train_step(_uint8_batch(4, seed=5), wrapper)
    assert set(log_vars) >= {'loss', 'acc_top1'} and torch.isfinite(log_vars['loss'])
    assert any(not torch.equal(a, b) for a, b in zip(online, model.backbone.parameters()))
    # the optimizer never moves the key branch (that is MomentumUpdateHook's job)
    assert all(torch.equal(a, b) for a, b in zip(frozen, model.momentum_backbone.parameters()))


@pytest.mark.parametrize('chunk_size', [None, 3])
def test_train_step_with_bf16_amp_optim_wrapper(chunk_size):
    model = build_v3(chunk_size=chunk_size)
    dtypes, head_dtypes = [], []
    model.backbone.register_forward_hook(lambda m, i, out: dtypes.append(out[-1].dtype))
    model.predictor.register_forward_hook(lambda m, i, out: head_dtypes.append(out.dtype))
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert wrapper.cast_dtype == torch.bfloat16
    online = _parameters(model.predictor)
    log_vars = model.train_step(_uint8_batch(6, seed=6), wrapper)
    assert torch.isfinite(log_vars['loss']) and log_vars['loss'].dtype == torch.float32
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the backbone ran under autocast
    assert set(head_dtypes) == {torch.float32}  # the heads and the logits in float32
    # chunked: 2 views x 2 chunks, each embedded twice (no graph, then with a graph)
    assert len(dtypes) == (2 if chunk_size is None else 8)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(online, model.predictor.parameters()))


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only')
def test_sync_bn_heads_of_a_gpu_config_run_as_plain_bn_on_cpu():
    model = build_v3(norm='SyncBN')
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    assert isinstance(model.neck.mlp[1], torch.nn.modules.batchnorm._BatchNorm)
    assert isinstance(model.momentum_neck.mlp[-1], torch.nn.modules.batchnorm._BatchNorm)
    assert not model.neck.mlp[-1].affine  # the projector's last BN keeps affine=False
    assert torch.isfinite(model.loss(_views(4, seed=7))['loss'])


def test_tensor_mode_returns_backbone_features():
    model = build_v3().eval()
    feats = model(torch.randn(2, 3, 8, 8), mode='tensor')
    assert isinstance(feats, tuple) and feats[-1].shape == (2, 8)
    with pytest.raises(ValueError, match='mode'):
        model(torch.randn(2, 3, 8, 8), mode='predict')
