"""AmpOptimWrapper: bf16 autocast without scaling on CPU, fp16 with (fixed or dynamic) loss
scaling, checkpointed scaler state, and arguments checked with the key named."""
import pytest
import torch
from torch import nn

from mmmoco.engine.optimizers.amp_optim_wrapper import AmpOptimWrapper


def _model(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(4, 3)


def test_cpu_default_is_bf16_autocast_without_a_scaler():
    model = _model()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert (wrapper.device_type, wrapper.cast_dtype) == ('cpu', torch.bfloat16)
    assert wrapper.loss_scaler is None and 'loss_scaler' not in wrapper.state_dict()
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    assert model(torch.randn(2, 4)).dtype == torch.float32  # only inside the context


def test_fixed_fp16_loss_scale_scales_the_gradient_and_steps_like_plain_sgd():
    model, reference = _model(), _model()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              dtype='float16', loss_scale=8.0)
    plain = torch.optim.SGD(reference.parameters(), lr=0.1)
    x = torch.randn(5, 4)
    wrapper.backward(model(x).pow(2).sum())
    reference(x).pow(2).sum().backward()
    assert torch.allclose(model.weight.grad, 8 * reference.weight.grad)
    wrapper.step()
    plain.step()
    assert torch.allclose(model.weight, reference.weight, atol=1e-6)
    assert wrapper.loss_scaler.get_scale() == 8.0  # a fixed scale stays fixed


def test_dynamic_scale_skips_an_overflowing_step_and_is_checkpointed(warnings_logged):
    model = _model()
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              dtype=torch.float16, loss_scale=dict(init_scale=1024.0))
    before = model.weight.detach().clone()
    wrapper.backward(model(torch.full((1, 4), float('inf'))).sum())
    wrapper.step()
    assert torch.equal(model.weight, before)  # skipped
    assert wrapper.loss_scaler.get_scale() == 512.0  # and the scale lowered
    state = wrapper.state_dict()
    assert state['loss_scaler']['scale'] == 512.0
    resumed = AmpOptimWrapper(optimizer=torch.optim.SGD(_model().parameters(), lr=0.1),
                              dtype='float16')
    resumed.load_state_dict(state)
    assert resumed.loss_scaler.get_scale() == 512.0
    # a bf16 run resuming an fp16 checkpoint drops the scaler state with a warning
    bf16 = AmpOptimWrapper(optimizer=torch.optim.SGD(_model().parameters(), lr=0.1))
    bf16.load_state_dict(state)
    assert any('loss-scaler state' in m for m in warnings_logged)


def test_arguments_are_checked(warnings_logged):
    params = _model().parameters()
    with pytest.raises(ValueError, match=r"optim_wrapper\.dtype='float8'"):
        AmpOptimWrapper(optimizer=torch.optim.SGD(params, lr=0.1), dtype='float8')
    with pytest.raises(ValueError, match=r"optim_wrapper\.loss_scale='auto'"):
        AmpOptimWrapper(optimizer=torch.optim.SGD(_model().parameters(), lr=0.1),
                        dtype='float16', loss_scale='auto')
    AmpOptimWrapper(optimizer=torch.optim.SGD(_model().parameters(), lr=0.1), loss_scale=4.0)
    assert any('loss_scale=4.0 is not used' in m for m in warnings_logged)
