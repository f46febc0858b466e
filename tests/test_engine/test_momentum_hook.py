"""Momentum update: the EMA formula, the cosine schedule, and once per optimizer step."""
import copy
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmmoco.engine.hooks import MomentumUpdateHook, momentum_update_


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
    hook = MomentumUpdateHook(momentum=base, end_momentum=1.0)
    for k in (1, 2, 50, 73, 99, 100):  # start, middle, end
        assert hook.current_momentum(k - 1, total) == pytest.approx(
            _reference_momentum(k, total, base), abs=1e-12)
    assert hook.current_momentum(0, total) == pytest.approx(base + (1 - base) * 2.4671e-4,
                                                            rel=1e-6)
    assert hook.current_momentum(49, total) == pytest.approx((1 + base) / 2)
    assert hook.current_momentum(total - 1, total) == 1.0
    assert MomentumUpdateHook(0.999).current_momentum(5, 10) == 0.999
    with pytest.raises(ValueError, match='momentum'):
        MomentumUpdateHook(momentum=1.5)
    with pytest.raises(TypeError, match='end_momentum'):
        MomentumUpdateHook(end_momentum='1.0')


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

    model = _Pairs()
    model.online.load_state_dict(online.state_dict())
    model.target.load_state_dict(online.state_dict())
    hook = MomentumUpdateHook(momentum=base, end_momentum=1.0)
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
    def __init__(self):
        super().__init__()
        self.online, self.target = nn.Linear(2, 2), nn.Linear(2, 2)

    def momentum_pairs(self):
        return [(self.online, self.target)]


def test_updates_once_per_optimizer_step_under_gradient_accumulation():
    model = _Pairs()
    wrapper = OptimWrapper(torch.optim.SGD(model.online.parameters(), lr=0.1),
                           accumulative_counts=3)
    wrapper.initialize_count_status(model, 0, 6)
    hook = MomentumUpdateHook(momentum=0.5)
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
