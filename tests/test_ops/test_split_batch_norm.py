"""The native split batch norm (mmmoco/ops) against a float64 reference and the PyTorch path."""
import os
import pathlib
import threading
import time
import warnings
from types import SimpleNamespace
from typing import List, Tuple

import pytest
import torch
from torch import nn

from mmmoco.models.utils import SplitBatchNorm2d
from mmmoco.models.utils.norm import split_sizes
from mmmoco.ops import native_split_batch_norm, split_batch_norm_op_available
from mmmoco.ops import split_batch_norm as split_batch_norm_module
from mmmoco.ops.split_batch_norm import NATIVE_OPS_ENV


@pytest.fixture
def path(request, monkeypatch):
    """Run the layer through the native operator ('native') or through PyTorch ('torch')."""
    monkeypatch.setenv(NATIVE_OPS_ENV, '1' if request.param == 'native' else '0')
    split_batch_norm_op_available.cache_clear()
    if request.param == 'native':
        assert split_batch_norm_op_available(), 'the native split batch norm did not build'
    yield request.param
    split_batch_norm_op_available.cache_clear()


def reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, num_splits: int,
              eps: float) -> torch.Tensor:
    """Split batch norm in float64 by its definition (contiguous sub-batches)."""
    parts = []
    for part in x.double().split(split_sizes(x.shape[0], num_splits)):
        mean = part.mean((0, 2, 3), keepdim=True)
        var = part.var((0, 2, 3), unbiased=False, keepdim=True)
        parts.append((part - mean) / (var + eps).sqrt() * weight.double().view(1, -1, 1, 1)
                     + bias.double().view(1, -1, 1, 1))
    return torch.cat(parts)


def run_layer(x: torch.Tensor, grad: torch.Tensor, num_splits: int, weight: torch.Tensor,
              bias: torch.Tensor) -> Tuple[SplitBatchNorm2d, torch.Tensor, torch.Tensor]:
    """Forward and backward of a SplitBatchNorm2d; returns it, its output and the input grad."""
    layer = SplitBatchNorm2d(x.shape[1], num_splits, momentum=0.1)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    x = x.detach().clone().requires_grad_()
    y = layer(x)
    y.backward(grad)
    return layer, y.detach(), x.grad


def max_error(value: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute difference, relative to the largest expected magnitude."""
    return ((value.double() - expected).abs().max() / expected.abs().max().clamp_min(1)).item()


CASES: List[Tuple[Tuple[int, int, int, int], int]] = [
    ((32, 16, 7, 7), 8),  # equal sub-batches
    ((30, 12, 5, 3), 4),  # uneven: 8 + 8 + 7 + 7
    ((6, 8, 1, 1), 3),    # 1x1 maps: NCHW and channels_last coincide
]


@pytest.mark.parametrize('path', ['native', 'torch'], indirect=True)
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('shape,num_splits', CASES)
def test_forward_backward_and_running_stats_match_the_definition(path, dtype, channels_last,
                                                                 shape, num_splits):
    torch.manual_seed(0)
    x = (torch.randn(shape) * 3 + 5).to(dtype)  # an offset mean: cancellation would show
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = torch.rand(shape[1]) + 0.5, torch.randn(shape[1])
    grad = torch.randn(shape).to(dtype)
    layer, y, grad_x = run_layer(x, grad, num_splits, weight, bias)

    x64 = x.double().requires_grad_()
    weight64, bias64 = weight.double().requires_grad_(), bias.double().requires_grad_()
    expected = reference(x64, weight64, bias64, num_splits, layer.eps)
    expected.backward(grad.double())
    # bfloat16 keeps 8 significant bits: one rounding of the output and input gradient. The
    # input gradient of 2-sample sub-batches (the 1x1 case) cancels to 1e-3 of its terms.
    tolerance = 1e-5 if dtype == torch.float32 else 1e-2
    assert y.dtype == dtype and grad_x.dtype == dtype
    assert max_error(y, expected.detach()) < tolerance
    assert max_error(grad_x, x64.grad) < 5 * tolerance
    # the native backward sums in float32; torch's channels_last bfloat16 backward loses about
    # 2e-3 of the weight and bias gradients
    parameter_tolerance = 5e-3 if (path, dtype) == ('torch', torch.bfloat16) else 1e-4
    assert max_error(layer.weight.grad, weight64.grad) < parameter_tolerance
    assert max_error(layer.bias.grad, bias64.grad) < parameter_tolerance
    assert y.is_contiguous(memory_format=torch.channels_last if channels_last
                           else torch.contiguous_format)

    parts = x.double().split(split_sizes(shape[0], num_splits))
    means = torch.stack([p.mean((0, 2, 3)) for p in parts]).mean(0)
    variances = torch.stack([p.var((0, 2, 3), unbiased=True) for p in parts]).mean(0)
    assert torch.allclose(layer.running_mean.double(), 0.1 * means, rtol=1e-5, atol=1e-5)
    assert torch.allclose(layer.running_var.double(), 0.9 + 0.1 * variances, rtol=1e-5)
    assert int(layer.num_batches_tracked) == 1


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_the_native_path_is_one_autograd_node_per_layer(path):
    x = torch.randn(8, 4, 3, 3, requires_grad=True)
    y = SplitBatchNorm2d(4, 4)(x)
    assert 'SplitBatchNormFunction' in y.grad_fn.name()  # not S batch norms and a concatenation
    y.sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_native_and_torch_paths_agree_without_affine_or_running_stats(path, monkeypatch):
    torch.manual_seed(1)
    x = torch.randn(12, 5, 4, 4).contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(x)
    results = []
    for setting in ('1', '0'):
        monkeypatch.setenv(NATIVE_OPS_ENV, setting)
        split_batch_norm_op_available.cache_clear()
        layer = SplitBatchNorm2d(5, 3, affine=False, track_running_stats=False)
        x_in = x.clone().requires_grad_()
        y = layer(x_in)
        y.backward(grad)
        results.append((y.detach(), x_in.grad))
    assert torch.allclose(results[0][0], results[1][0], atol=2e-5)
    assert torch.allclose(results[0][1], results[1][1], atol=2e-5)


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_cumulative_running_average_matches_the_torch_path(path, monkeypatch):
    torch.manual_seed(2)
    batches = [torch.randn(8, 3, 2, 2) * (i + 1) for i in range(3)]
    buffers = []
    for setting in ('1', '0'):
        monkeypatch.setenv(NATIVE_OPS_ENV, setting)
        split_batch_norm_op_available.cache_clear()
        layer = SplitBatchNorm2d(3, 2, momentum=None)
        for batch in batches:
            layer(batch)
        buffers.append((layer.running_mean.clone(), layer.running_var.clone()))
    assert torch.allclose(buffers[0][0], buffers[1][0], atol=1e-5)
    assert torch.allclose(buffers[0][1], buffers[1][1], atol=1e-4)


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_inputs_the_operator_does_not_take_go_to_the_torch_path(path):
    weight, bias = torch.ones(3), torch.zeros(3)
    for x in (torch.randn(4, 3, 2, 2, dtype=torch.float64),   # dtype
              torch.randn(4, 3, 2, 4)[..., ::2],               # strided
              torch.randn(4, 3, 5)):                           # not (N, C, H, W)
        assert native_split_batch_norm(x, weight, bias, None, None, 2, 0.1, 1e-5) is None
    half_weight = weight.to(torch.bfloat16)
    x = torch.randn(4, 3, 2, 2)
    assert native_split_batch_norm(x, half_weight, bias, None, None, 2, 0.1, 1e-5) is None
    layer = SplitBatchNorm2d(3, 2).double()  # the layer still works, through PyTorch
    assert layer(torch.randn(4, 3, 2, 2, dtype=torch.float64)).dtype == torch.float64


def test_a_failed_build_warns_once_and_falls_back(monkeypatch):
    import torch.utils.cpp_extension as builder

    def no_compiler(*args, **kwargs):
        raise RuntimeError('no C++ compiler (test)')

    monkeypatch.setenv(NATIVE_OPS_ENV, '1')
    monkeypatch.setattr(builder, 'load', no_compiler)
    monkeypatch.setattr(split_batch_norm_module, 'op_loaded', lambda: False)
    split_batch_norm_op_available.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match='no C.. compiler .test.'):
            assert not split_batch_norm_op_available()
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # once per process: no second warning
            layer = SplitBatchNorm2d(3, 2)
            x = torch.randn(6, 3, 2, 2, requires_grad=True)
            y = layer(x)
        assert 'SplitBatchNormFunction' not in y.grad_fn.name()
        expected = reference(x.detach(), layer.weight.detach(), layer.bias.detach(), 2, layer.eps)
        assert torch.allclose(y.double(), expected, atol=1e-5)
    finally:
        split_batch_norm_op_available.cache_clear()


def test_a_lock_file_left_by_a_killed_build_is_removed(tmp_path):
    """torch builders before the OS-level FileLock lock by a file's existence: a killed build's
    file would block every later run; a build in progress is waited for."""
    module = split_batch_norm_module
    file_lock_builder = SimpleNamespace()  # no FileLock attribute: the lock is the file
    lock = tmp_path / 'lock'
    lock.touch()
    old = time.time() - module.STALE_LOCK_SECONDS - 5
    os.utime(lock, (old, old))
    with pytest.warns(RuntimeWarning, match='removing the build lock'):
        module.wait_for_file_lock(str(tmp_path), file_lock_builder)
    assert not lock.exists()

    lock.touch()  # a build in progress: waited for until it releases the lock
    release = threading.Timer(0.5, lock.unlink)
    release.start()
    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        module.wait_for_file_lock(str(tmp_path), file_lock_builder)
    assert time.time() - start >= 0.4 and not lock.exists()
    release.join()


def test_an_os_level_lock_is_left_to_torch(tmp_path):
    """torch >= its FileLock keeps the lock file after every build and the system releases the
    lock of a killed holder: an old lock file is normal and must not be touched."""
    lock = tmp_path / 'lock'
    lock.touch()
    old = time.time() - split_batch_norm_module.STALE_LOCK_SECONDS - 5
    os.utime(lock, (old, old))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        split_batch_norm_module.wait_for_file_lock(str(tmp_path), SimpleNamespace(FileLock=None))
    assert lock.exists()


def test_every_copy_of_the_source_builds_in_one_folder(monkeypatch, tmp_path):
    """A second checkout or an installed wheel must not rebuild (torch's builder rebuilds when
    a source's path changes): the source is staged into a folder named after its text."""
    module = split_batch_norm_module
    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path / 'cache'))
    source = pathlib.Path(module._SOURCE).read_text(encoding='utf-8')
    staged = set()
    for checkout in ('a', 'b'):
        copy = tmp_path / checkout / 'split_batch_norm.cpp'
        copy.parent.mkdir()
        copy.write_text(source, encoding='utf-8')
        monkeypatch.setattr(module, '_SOURCE', str(copy))
        text = copy.read_text(encoding='utf-8')
        directory = module.build_directory('mmmoco_split_bn_test', text)
        staged.add(module.staged_source(directory, text))
    [path] = staged
    assert pathlib.Path(path).read_text(encoding='utf-8') == source
    assert pathlib.Path(path).parent.parent == tmp_path / 'cache' / 'mmmoco'
    changed = module.build_directory('mmmoco_split_bn_test', source + '// changed\n')
    assert changed != str(pathlib.Path(path).parent)  # another text, another build


def test_switched_off_it_is_not_built(monkeypatch):
    import torch.utils.cpp_extension as builder
    monkeypatch.setenv(NATIVE_OPS_ENV, '0')
    monkeypatch.setattr(builder, 'load', lambda *a, **k: pytest.fail('built despite the switch'))
    split_batch_norm_op_available.cache_clear()
    try:
        assert not split_batch_norm_op_available()
        assert SplitBatchNorm2d(2, 2)(torch.randn(4, 2, 3, 3)).shape == (4, 2, 3, 3)
    finally:
        split_batch_norm_op_available.cache_clear()


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_edge_inputs_take_the_torch_path_instead_of_failing(path):
    # an empty feature map: the torch path returns an empty output (the kernel would read
    # nothing at all)
    empty = torch.randn(4, 3, 0, 5)
    assert native_split_batch_norm(empty, None, None, None, None, 2, 0.1, 1e-5) is None
    assert SplitBatchNorm2d(3, 2)(empty).shape == (4, 3, 0, 5)
    x = torch.randn(6, 3, 2, 2)
    # per-channel tensors of the wrong size: torch's own error, not an out-of-bounds read
    short = torch.ones(2)
    assert native_split_batch_norm(x, short, short, None, None, 2, 0.1, 1e-5) is None
    # a running statistic that is not contiguous
    strided = torch.zeros(6)[::2]
    assert native_split_batch_norm(x, None, None, strided, strided.clone(), 2, 0.1, 1e-5) is None


@pytest.mark.parametrize('path', ['native', 'torch'], indirect=True)
@pytest.mark.parametrize('dropped', ['weight', 'bias'])
def test_a_layer_with_only_a_weight_or_only_a_bias_keeps_its_gradient(path, dropped):
    torch.manual_seed(3)
    layer = SplitBatchNorm2d(3, 2)
    setattr(layer, dropped, None)
    kept = layer.bias if dropped == 'weight' else layer.weight
    x = torch.randn(8, 3, 2, 2, requires_grad=True)
    scale = torch.arange(8.).view(8, 1, 1, 1)
    (layer(x) * scale).sum().backward()
    x64 = x.detach().double().requires_grad_()
    kept64 = kept.detach().double().requires_grad_()
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    weight64, bias64 = (ones, kept64) if dropped == 'weight' else (kept64, zeros)
    (reference(x64, weight64, bias64, 2, layer.eps) * scale.double()).sum().backward()
    assert torch.allclose(kept.grad.double(), kept64.grad, atol=1e-4)
    assert torch.allclose(x.grad.double(), x64.grad, atol=1e-4)


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_double_backward_through_the_native_path_is_refused_loudly(path):
    layer = SplitBatchNorm2d(3, 2)
    x = torch.randn(6, 3, 2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match='no double backward.*MMMOCO_NATIVE_OPS=0'):
        torch.autograd.grad((layer(x) ** 3).sum(), x, create_graph=True)


@pytest.mark.parametrize('path', ['native'], indirect=True)
def test_large_channels_last_sub_batches_keep_float32_accuracy(path):
    """Sums over 100k pixels of a channels_last sub-batch: the float error must not grow with
    the batch (one float sum over the rows loses about 3e-3 of the variance here, torch's own
    channels_last kernel loses about 3e-4)."""
    torch.manual_seed(4)
    x = torch.relu(torch.randn(64, 4, 56, 56)) * 3 + 0.5
    layer = SplitBatchNorm2d(4, 2, momentum=1.0)
    y = layer(x.contiguous(memory_format=torch.channels_last))
    parts = x.double().split(32)
    variance = torch.stack([p.var((0, 2, 3), unbiased=True) for p in parts]).mean(0)
    assert ((layer.running_var.double() - variance).abs() / variance).max() < 5e-5
    expected = reference(x, torch.ones(4), torch.zeros(4), 2, layer.eps)
    assert (y.double() - expected).abs().max() < 2e-4


def test_eval_mode_is_plain_batch_norm():
    layer = SplitBatchNorm2d(3, 4)
    layer(torch.randn(8, 3, 4, 4))
    layer.eval()
    plain = nn.BatchNorm2d(3)
    plain.load_state_dict(layer.state_dict())
    plain.eval()
    x = torch.randn(5, 3, 4, 4)
    assert torch.equal(layer(x), plain(x))
