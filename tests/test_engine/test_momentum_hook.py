"""Momentum update: the EMA formula, the model's schedule (constant or cosine), and one update
per optimizer step by the default hook."""
import copy
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmmoco.engine.hooks import MomentumUpdateHook, momentum_update_
from mmmoco.models.algorithms.base_momentum import MomentumSchedule


def test_momentum_update_formula():
    target, source = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    momentum_update_(target, source, 0.9)
    for new, old, src in zip(target.parameters(), before, source.parameters()):
        assert torch.allclose(new, 0.9 * old + 0.1 * src)
    momentum_update_(target, source, 1.0)  # m = 1 keeps the target
    momentum_update_(target, source, 0.0)  # m = 0 copies the source
    for new, src in zip(target.parameters(), source.parameters()):
        assert torch.equal(new, src)


def _reference_momentum(k: int, total: int, base: float) -> float:
    """moco-v3 main_moco.py adjust_moco_momentum at iteration k of K (epoch + i / iters)."""
    return 1. - 0.5 * (1. + math.cos(math.pi * k / total)) * (1. - base)


@pytest.mark.parametrize('base', [0.99, 0.996])
def test_cosine_schedule_matches_the_reference_per_iteration(base):
    """The reference updates at the start of iteration k with m(k / K); the hook updates after
    the optimizer step of iteration k - 1, so its value there must be m(k / K)."""
    total = 100
    schedule = MomentumSchedule(start=base, end=1.0)
    for k in (1, 2, 50, 73, 99, 100):  # start, middle, end
        assert schedule.at(k - 1, total) == pytest.approx(
            _reference_momentum(k, total, base), abs=1e-12)
    assert schedule.at(0, total) == pytest.approx(base + (1 - base) * 2.4671e-4, rel=1e-6)
    assert schedule.at(49, total) == pytest.approx((1 + base) / 2)
    assert schedule.at(total - 1, total) == 1.0
    assert MomentumSchedule(0.999).at(5, 10) == 0.999


def test_the_schedule_is_checked_and_the_hook_takes_no_arguments():
    with pytest.raises(ValueError, match='model.momentum.start'):
        MomentumSchedule(start=1.5)
    with pytest.raises(TypeError, match='model.momentum.end'):
        MomentumSchedule(end='1.0')
    with pytest.raises(TypeError, match=r'model.momentum must be dict\(start'):
        MomentumSchedule.from_config(0.99)
    with pytest.raises(TypeError, match=r'model.momentum must be dict\(start'):
        MomentumSchedule.from_config(dict(start=0.99, ending=1.0))
    # configs of the former layout are told where the schedule went
    with pytest.raises(TypeError, match=r'model.momentum=dict\(start=0.999\)'):
        MomentumUpdateHook(momentum=0.999)


def test_key_encoder_follows_the_reference_training_order():
    """Reference: per iteration k, update the key encoder with m(k / K), then forward and step.
    mmmoco: forward and step, then the hook. Both leave the same key encoder after K steps."""
    total, base = 7, 0.9
    torch.manual_seed(0)
    online = nn.Linear(2, 2)
    grads = [[torch.randn_like(p) for p in online.parameters()] for _ in range(total)]

    def sgd_step(module, k):
        with torch.no_grad():
            for param, grad in zip(module.parameters(), grads[k]):
                param.sub_(0.5 * grad)

    ref_online, ref_target = copy.deepcopy(online), copy.deepcopy(online)
    for k in range(total):
        momentum_update_(ref_target, ref_online, _reference_momentum(k, total, base))
        sgd_step(ref_online, k)

    model = _Pairs(MomentumSchedule(start=base, end=1.0))
    model.online.load_state_dict(online.state_dict())
    model.target.load_state_dict(online.state_dict())
    hook = MomentumUpdateHook()
    runner = SimpleNamespace(model=model, max_iters=total,
                             optim_wrapper=SimpleNamespace(should_update=lambda: True),
                             message_hub=SimpleNamespace(update_scalar=lambda *a: None))
    for k in range(total):
        sgd_step(model.online, k)
        runner.iter = k
        hook.after_train_iter(runner, k)
    for got, want in zip(model.target.parameters(), ref_target.parameters()):
        assert torch.allclose(got, want, atol=1e-7)


class _Pairs(nn.Module):
    """A minimal momentum model: one (online, target) pair and its schedule."""

    def __init__(self, schedule=None):
        super().__init__()
        self.online, self.target = nn.Linear(2, 2), nn.Linear(2, 2)
        self.momentum_schedule = schedule or MomentumSchedule(start=0.5)

    def momentum_pairs(self):
        return [(self.online, self.target)]


def test_updates_once_per_optimizer_step_under_gradient_accumulation():
    model = _Pairs()
    wrapper = OptimWrapper(torch.optim.SGD(model.online.parameters(), lr=0.1),
                           accumulative_counts=3)
    wrapper.initialize_count_status(model, 0, 6)
    hook = MomentumUpdateHook()
    runner = SimpleNamespace(model=model, optim_wrapper=wrapper, max_iters=6,
                             message_hub=SimpleNamespace(update_scalar=lambda *a: None))
    updates = []
    for it in range(6):
        runner.iter = it
        loss = model.online(torch.ones(1, 2)).sum()
        wrapper.update_params(loss)
        before = model.target.weight.clone()
        hook.after_train_iter(runner, it)
        updates.append(not torch.equal(before, model.target.weight))
    assert updates == [False, False, True, False, False, True]


def test_a_model_without_a_schedule_is_left_alone():
    class Plain(nn.Module):  # a classifier: no momentum copies, no schedule
        def momentum_pairs(self):
            raise AssertionError('the hook must not touch a model without a schedule')

    runner = SimpleNamespace(model=Plain(), iter=0, max_iters=1,
                             optim_wrapper=SimpleNamespace(should_update=lambda: True))
    MomentumUpdateHook().after_train_iter(runner, 0)


def test_moco_models_declare_their_papers_schedules():
    from mmmoco.registry import MODELS
    common = dict(backbone=dict(type='ResNet', depth=18),
                  neck=dict(type='LinearNeck', in_channels=512, out_channels=16),
                  head=dict(type='ContrastiveHead'))
    v2 = MODELS.build(dict(type='MoCo', queue=dict(type='KeyQueue', feat_dim=16, queue_len=8),
                           **common))
    assert (v2.momentum_schedule.start, v2.momentum_schedule.end) == (0.999, None)
    v3 = MODELS.build(dict(type='MoCoV3', predictor=dict(
        type='MLPNeck', in_channels=16, hidden_channels=8, out_channels=16), **common))
    assert (v3.momentum_schedule.start, v3.momentum_schedule.end) == (0.99, 1.0)
    custom = MODELS.build(dict(type='MoCo', momentum=dict(start=0.9, end=0.99),
                               queue=dict(type='KeyQueue', feat_dim=16, queue_len=8), **common))
    assert custom.momentum_schedule.at(9, 10) == pytest.approx(0.99)
