"""LARS: the MoCo v3 reference update rule, by hand and on a model with biases and BN."""
import copy
import math

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from torch import nn

from mmmoco.engine.optimizers import LARS


def _step(optimizer, params, grads):
    for param, grad in zip(params, grads):
        param.grad = grad.clone()
    optimizer.step()


def test_hand_computed_two_steps():
    weight = nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    bias = nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = LARS([weight, bias], lr=2.0, momentum=0.9, weight_decay=0.1,
                     trust_coefficient=0.001)
    grads = [torch.tensor([[0.6, 0.8]]), torch.tensor([0.5, 0.25])]
    _step(optimizer, [weight, bias], grads)
    # weight: d = g + 0.1 w = (0.9, 1.2), ||d|| = 1.5, ratio = 0.001 * 5 / 1.5
    #         mu = d * ratio = (0.003, 0.004), w = w - 2 mu
    assert torch.allclose(weight, torch.tensor([[2.994, 3.992]]), atol=1e-7)
    # bias: no weight decay, no trust ratio: mu = g, b = b - 2 g
    assert torch.allclose(bias, torch.tensor([0.0, -2.5]))
    _step(optimizer, [weight, bias], grads)
    # weight: w = 0.998 (3, 4), d = g + 0.1 w is parallel to (3, 4), so d * ratio
    #         = 0.001 * ||w|| * (0.6, 0.8) = (0.002994, 0.003992); mu = 0.9 mu + that
    assert torch.allclose(weight, torch.tensor([[2.994 - 2 * 0.005694, 3.992 - 2 * 0.007592]]),
                          atol=1e-6)
    # bias: mu = 0.9 g + g = 1.9 g
    assert torch.allclose(bias, torch.tensor([-1.9, -3.45]))


def test_zero_parameter_or_zero_update_falls_back_to_ratio_one():
    zero = nn.Parameter(torch.zeros(2, 2))
    still = nn.Parameter(torch.ones(2, 2))
    optimizer = LARS([zero, still], lr=0.5, momentum=0.0, weight_decay=0.0)
    _step(optimizer, [zero, still], [torch.ones(2, 2), torch.zeros(2, 2)])
    assert torch.allclose(zero, torch.full((2, 2), -0.5))  # ||w|| = 0: plain SGD step
    assert torch.equal(still, torch.ones(2, 2))  # ||d|| = 0: no step, no NaN


def _reference_lars(params, grads, buffers, lr, momentum, weight_decay, eta):
    """The reference rule, written out: 1-d parameters get plain momentum SGD."""
    for param, grad, buffer in zip(params, grads, buffers):
        if param.ndim > 1:
            grad = grad + weight_decay * param
            p_norm, g_norm = float(param.norm()), float(grad.norm())
            if p_norm > 0 and g_norm > 0:
                grad = grad * (eta * p_norm / g_norm)
        buffer.mul_(momentum).add_(grad)
        param.sub_(lr * buffer)


def test_bias_and_norm_parameters_skip_decay_and_adaptation_on_a_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    params = list(model.parameters())
    expected = [p.detach().clone() for p in params]
    buffers = [torch.zeros_like(p) for p in params]
    optimizer = LARS(params, lr=0.3, momentum=0.9, weight_decay=1e-2, trust_coefficient=0.01)
    for step in range(3):
        grads = [torch.randn_like(p) for p in params]
        _step(optimizer, params, grads)
        _reference_lars(expected, grads, buffers, 0.3, 0.9, 1e-2, 0.01)
    for (name, param), want in zip(model.named_parameters(), expected):
        assert torch.allclose(param, want, atol=1e-6), name
    # a 1-d parameter moved by exactly the SGD-with-momentum amount (no ratio 0.01 damping)
    bn_weight = model[1].weight
    assert bn_weight.ndim == 1 and not torch.allclose(bn_weight, torch.ones(4), atol=1e-2)


def test_parameters_without_gradient_are_left_alone():
    frozen = nn.Parameter(torch.ones(3, 3), requires_grad=False)
    trained = nn.Parameter(torch.ones(3, 3))
    optimizer = LARS([frozen, trained], lr=0.1)
    trained.grad = torch.ones(3, 3)
    optimizer.step()
    assert torch.equal(frozen, torch.ones(3, 3)) and frozen not in optimizer.state
    assert not torch.equal(trained, torch.ones(3, 3))


def test_state_dict_resume_gives_the_same_next_step():
    torch.manual_seed(0)
    first = nn.Linear(4, 3)
    second = nn.Linear(4, 3)
    second.load_state_dict(first.state_dict())
    opt_a = LARS(first.parameters(), lr=0.1, weight_decay=1e-4)
    grads = [[torch.randn_like(p) for p in first.parameters()] for _ in range(2)]
    _step(opt_a, list(first.parameters()), grads[0])
    second.load_state_dict(first.state_dict())
    opt_b = LARS(second.parameters(), lr=0.1, weight_decay=1e-4)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as through a checkpoint file
    _step(opt_a, list(first.parameters()), grads[1])
    _step(opt_b, list(second.parameters()), grads[1])
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_built_from_a_config_through_the_registry():
    model = nn.Linear(2, 2)
    wrapper = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='LARS', lr=0.6, weight_decay=1e-6,
                                            momentum=0.9)))
    assert isinstance(wrapper.optimizer, LARS)
    group = wrapper.optimizer.param_groups[0]
    assert (group['lr'], group['weight_decay'], group['momentum']) == (0.6, 1e-6, 0.9)
    assert group['trust_coefficient'] == 0.001


@pytest.mark.parametrize('kwargs, key', [(dict(lr=-1.0), 'lr'), (dict(momentum=1.0), 'momentum'),
                                         (dict(weight_decay=math.nan), 'weight_decay'),
                                         (dict(trust_coefficient='x'), 'trust_coefficient')])
def test_invalid_hyper_parameters_are_named(kwargs, key):
    with pytest.raises(ValueError, match=key):
        LARS([nn.Parameter(torch.ones(1))], **kwargs)
