"""Issue 20, item 5: DDP is built without PyTorch's deprecated ``broadcast_buffers`` and, with
channels_last inputs, with gradients that match the weights' layout (no "Grad strides do not
match bucket view strides")."""
import copy
import inspect
import warnings

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from torch.nn.parallel import DistributedDataParallel

from conftest import free_port
from mmmoco.engine.runner.ddp_wrapping import (ddp_wrapper_cfg, match_channels_last_grad_layout_,
                                               no_forward_buffer_sync)
from mmmoco.registry import MODEL_WRAPPERS, MODELS
from tiny_run import RECIPE

HAS_FORWARD_SYNC = 'forward_sync_buffers' in inspect.signature(DistributedDataParallel).parameters


def _backbone() -> torch.nn.Module:
    """The demo recipe's ResNet-18 (small stem, width 16): 1x1 convolutions in its shortcuts."""
    return MODELS.build(Config.fromfile(RECIPE).model.backbone)


def test_buffer_argument_of_the_installed_pytorch():
    expected = 'forward_sync_buffers' if HAS_FORWARD_SYNC else 'broadcast_buffers'
    assert no_forward_buffer_sync() == {expected: False}
    cfg = ddp_wrapper_cfg(None, find_unused_parameters=True)
    assert cfg == {'type': 'MMDistributedDataParallel', 'find_unused_parameters': True,
                   expected: False}
    # the user's own choice, and wrappers that are not DDP, are left alone
    mine = dict(type='MMDistributedDataParallel', broadcast_buffers=True)
    assert ddp_wrapper_cfg(mine, False) == mine
    assert ddp_wrapper_cfg(dict(type='MMSeparateDistributedDataParallel'), False) == dict(
        type='MMSeparateDistributedDataParallel')


@pytest.fixture
def one_process_group():
    """A gloo process group of one process, torn down after the test."""
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{free_port()}', rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.skipif(not HAS_FORWARD_SYNC, reason='PyTorch without forward_sync_buffers')
def test_ddp_from_the_wrapper_config_warns_nothing(one_process_group):
    cfg = {**ddp_wrapper_cfg(None, False), 'device_ids': None, 'module': _backbone()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model = MODEL_WRAPPERS.build(cfg)
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    assert model.forward_sync_buffers is False


def test_channels_last_gradients_match_the_weights_layout():
    model = _backbone()
    before = copy.deepcopy(model.state_dict())
    pointers = [param.data_ptr() for param in model.parameters()]
    # the three 1x1 shortcut convolutions
    assert match_channels_last_grad_layout_(model) == 3
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert [param.data_ptr() for param in model.parameters()] == pointers  # same memory
    images = torch.randn(4, 3, 28, 28).to(memory_format=torch.channels_last)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(images)[-1].float().pow(2).mean()
    loss.backward()
    mismatched = [name for name, param in model.named_parameters()
                  if param.grad.stride() != param.stride()]
    assert mismatched == []
    assert match_channels_last_grad_layout_(model) == 0  # idempotent
