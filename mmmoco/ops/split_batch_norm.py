"""Split batch norm in one native call per layer on CPU (``csrc/split_batch_norm.cpp``).

:class:`mmmoco.models.utils.SplitBatchNorm2d` normalises each of S sub-batches with its own
statistics. In PyTorch that takes S ``batch_norm`` calls per layer, a concatenation of their
outputs, S autograd nodes and S weight-gradient accumulations; at the sizes of a small CPU run
(4 to 16 samples per sub-batch) that fixed cost is most of the layer's time. The native operator
computes every sub-batch's statistics, the normalisation, the running statistics update and the
backward pass in one call each, for float32 and bfloat16 inputs in NCHW or channels_last.

The operator is compiled with ``torch.utils.cpp_extension.load`` the first time it is needed
(about 15 s, then cached in ``$TORCH_EXTENSIONS_DIR/mmmoco``, by default
``~/.cache/torch_extensions/mmmoco``, one folder per source text, so every checkout and
installed copy shares one build) with the machine's vector instructions (AVX2 and FMA where the
CPU has them; the build's folder says which, so a shared cache never hands one CPU another's
build). Concurrent processes wait for one build (torch's OS-level lock; with an older torch
whose lock is a file, a lock left by a killed build is removed after ``STALE_LOCK_SECONDS``
instead of blocking every later run). Where it cannot be built (no compiler, no ninja, no
writable cache) a warning says why once and the PyTorch path runs instead;
``MMMOCO_NATIVE_OPS=0`` turns it off.
"""
import functools
import hashlib
import logging
import os
import os.path as osp
import platform
import sys
import time
import warnings
from typing import List, Optional, Tuple

import torch

from mmmoco.utils.atomic_write import write_text_atomic

#: Environment variable that turns the native operators off when set to 0.
NATIVE_OPS_ENV = 'MMMOCO_NATIVE_OPS'

#: Age after which a lock file (torch builders before the OS-level lock) is taken for the
#: leftover of a killed build (a build takes about 15 s).
STALE_LOCK_SECONDS = 600

_SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'split_batch_norm.cpp')
_X86_FLAGS = ('avx2', 'fma', 'f16c')


def _cpu_flags() -> set:
    """The CPU feature flags Linux reports (empty elsewhere or when unreadable)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def build_flags() -> Tuple[str, List[str]]:
    """The instruction-set tag of the build and its compiler flags.

    Returns:
        ``('avx2', [...])`` on an x86-64 CPU with AVX2, FMA and F16C, else ``('base', ['-O3'])``.
    """
    if platform.machine() in ('x86_64', 'AMD64') and set(_X86_FLAGS) <= _cpu_flags():
        return 'avx2', ['-O3', *(f'-m{flag}' for flag in _X86_FLAGS)]
    return 'base', ['-O3']


def build_directory(name: str, source: str) -> str:
    """The folder of one build: per source text, torch and Python version, under
    ``TORCH_EXTENSIONS_DIR``.

    Args:
        name: The extension's name (with its instruction-set tag).
        source: The C++ source text.

    Returns:
        The folder (created if missing).
    """
    root = os.environ.get('TORCH_EXTENSIONS_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'torch_extensions')
    python = f'py{sys.version_info.major}{sys.version_info.minor}'
    digest = hashlib.sha256(source.encode('utf-8')).hexdigest()[:12]
    path = osp.join(root, 'mmmoco', f'{name}_{digest}_torch{torch.__version__}_{python}')
    os.makedirs(path, exist_ok=True)
    return path


def staged_source(directory: str, source: str) -> str:
    """The source copied into its build folder, so that every checkout and installed copy of
    mmmoco builds the same file (torch's builder rebuilds when a source's path changes).

    Args:
        directory: The build folder.
        source: The C++ source text.

    Returns:
        The copy's path (written atomically when missing or different).
    """
    path = osp.join(directory, osp.basename(_SOURCE))
    try:
        with open(path, encoding='utf-8') as f:
            if f.read() == source:
                return path
    except OSError:
        pass
    write_text_atomic(path, source)
    return path


def wait_for_file_lock(directory: str, builder) -> None:
    """With a torch whose extension builder locks by a file's existence (``FileBaton``, before
    its OS-level ``FileLock``), wait for a build in progress and remove the lock of a build
    that was killed (older than :data:`STALE_LOCK_SECONDS`), which would block every later run
    forever. An OS-level lock is released by the system when its holder dies: nothing to do.

    Args:
        directory: A build folder.
        builder: The ``torch.utils.cpp_extension`` module.
    """
    if hasattr(builder, 'FileLock'):
        return
    lock = osp.join(directory, 'lock')
    while True:
        try:
            age = time.time() - os.path.getmtime(lock)
        except OSError:  # no lock (any more)
            return
        if age > STALE_LOCK_SECONDS:
            warnings.warn(f'mmmoco: removing the build lock {lock}, left {age:.0f} s ago by a '
                          'build that did not finish', RuntimeWarning, stacklevel=3)
            try:
                os.remove(lock)
            except FileNotFoundError:  # another process removed it first
                pass
            return
        time.sleep(1.0)


def op_loaded() -> bool:
    """Whether this process has already loaded the operator."""
    return hasattr(torch.ops.mmmoco_split_bn, 'split_batch_norm')


@functools.lru_cache(maxsize=None)
def split_batch_norm_op_available() -> bool:
    """Build (or load the cached build of) the native split batch norm, once per process.

    Returns:
        Whether ``torch.ops.mmmoco_split_bn`` can be used; False with one warning naming the
        reason when it cannot be built, False without one when ``MMMOCO_NATIVE_OPS=0``.
    """
    if os.environ.get(NATIVE_OPS_ENV, '1') == '0':
        return False
    if op_loaded():  # by an earlier call: a second library would register the names twice
        return True
    tag, flags = build_flags()
    # importing the builder warns "No CUDA runtime is found" on every CPU machine with a CUDA
    # folder: irrelevant to a C++-only operator
    builder_log = logging.getLogger('torch.utils.cpp_extension')
    level = builder_log.level
    builder_log.setLevel(logging.ERROR)
    try:
        import torch.utils.cpp_extension as builder
        name = f'mmmoco_split_bn_{tag}'
        with open(_SOURCE, encoding='utf-8') as f:
            source = f.read()
        directory = build_directory(name, source)
        wait_for_file_lock(directory, builder)
        builder.load(name=name, sources=[staged_source(directory, source)], extra_cflags=flags,
                     build_directory=directory, is_python_module=False, verbose=False)
    except Exception as error:  # no compiler, no ninja, a read-only cache: fall back
        warnings.warn(f'mmmoco: the native split batch norm could not be built ({error}); '
                      'split BN runs in PyTorch instead (slower on CPU). Building it needs a '
                      'C++ compiler and ninja (pip install ninja); set '
                      f'{NATIVE_OPS_ENV}=0 to skip the attempt.', RuntimeWarning, stacklevel=2)
        return False
    finally:
        builder_log.setLevel(level)
    return True


def _native_input(x: torch.Tensor) -> bool:
    """Whether the operator takes ``x``: a non-empty CPU (N, C, H, W) float32/bfloat16 batch,
    contiguous in NCHW or channels_last."""
    return (x.device.type == 'cpu' and x.dim() == 4 and x.numel() > 0
            and x.dtype in (torch.float32, torch.bfloat16)
            and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)))


def _native_parameter(tensor: Optional[torch.Tensor], channels: int) -> bool:
    """Whether the operator takes ``tensor`` as a weight, bias or running statistic: none, or
    ``channels`` contiguous float32 values on the CPU."""
    return tensor is None or (tensor.device.type == 'cpu' and tensor.dtype == torch.float32
                              and tensor.numel() == channels and tensor.is_contiguous())


def native_split_batch_norm(x: torch.Tensor, weight: Optional[torch.Tensor],
                            bias: Optional[torch.Tensor], running_mean: Optional[torch.Tensor],
                            running_var: Optional[torch.Tensor], num_splits: int,
                            momentum: float, eps: float) -> Optional[torch.Tensor]:
    """Split batch norm of ``x`` by the native operator, or None where it does not apply.

    It applies to a non-empty CPU batch (N, C, H, W) of float32 or bfloat16, contiguous in NCHW
    or channels_last, with C contiguous float32 values for each of the weight and bias (both or
    neither) and the running statistics (or none), once the operator is built, outside
    ``torch.compile`` (which traces the PyTorch path). The operator is its own autograd node:
    the backward pass is one native call too; it has no double backward (``create_graph=True``
    through it raises, naming ``MMMOCO_NATIVE_OPS=0``).

    Args:
        x: The batch.
        weight: Per-channel scale (C) or None.
        bias: Per-channel shift (C) or None.
        running_mean: Running mean (C) updated in place, or None.
        running_var: Running unbiased variance (C) updated in place, or None.
        num_splits: Number of contiguous sub-batches S (at most N are used).
        momentum: Update factor of the running statistics with the mean over the sub-batches.
        eps: Added to the variance.

    Returns:
        The normalised batch (same dtype and memory format), or None when the PyTorch path
        must run.
    """
    if not _native_input(x) or (weight is None) != (bias is None):  # affine: both or neither
        return None
    if not all(_native_parameter(t, x.shape[1]) for t in (weight, bias, running_mean,
                                                          running_var)):
        return None
    if torch.compiler.is_compiling() or not split_batch_norm_op_available():
        return None
    return torch.ops.mmmoco_split_bn.split_batch_norm(x, weight, bias, running_mean, running_var,
                                                      num_splits, momentum, eps)
