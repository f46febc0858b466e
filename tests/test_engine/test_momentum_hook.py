"""Momentum update: the EMA formula, the cosine schedule, and once per optimizer step."""
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


def test_cosine_schedule_endpoints():
    hook = MomentumUpdateHook(momentum=0.99, end_momentum=1.0)
    assert hook.current_momentum(-1, 100) == pytest.approx(0.99)
    assert hook.current_momentum(49, 100) == pytest.approx(0.995)
    assert hook.current_momentum(99, 100) == pytest.approx(1.0)
    assert MomentumUpdateHook(0.999).current_momentum(5, 10) == 0.999
    with pytest.raises(ValueError, match='momentum'):
        MomentumUpdateHook(momentum=1.5)


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
