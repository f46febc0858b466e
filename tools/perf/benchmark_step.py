#!/usr/bin/env python
"""Time mmmoco's full MoCo train step against its bare-PyTorch compute floor, in one process.

``--mode step`` (default) times, interleaved step by step (A, B, A, B, ...):

- floor: the config's backbone and neck as a bare PyTorch loop: query forward + backward +
  SGD step, key forward under ``no_grad`` (plain BN; a within-batch InfoNCE loss), from the
  framework's initial weights, on the views the framework's preprocessor normalised (untimed);
- framework: the config's model built by the registry, ``model.train_step(data,
  optim_wrapper)`` on uint8 views (data preprocessor, Shuffle/split BN, loss, queue) and
  the momentum hook's ``after_train_iter`` (EMA of the key encoder, ``default_hooks.momentum``);
  the views are those of the config's ``MultiView`` (two global views, and the small views of
  a multi-crop recipe, whose floor stays that of the two global views);
- framework with ``single_device_bn_splits=1`` when the config converts to split BN, so the
  split-BN cost is visible;
- framework + batched augmentation when the config's data preprocessor has
  ``batch_augments``: the other framework variants run without them, as the floor does.

The precision is the config's (``AmpOptimWrapper``: bf16 autocast on CPU, fp16 on CUDA) or
``--amp``, for the floor as for the framework.

It prints each one's median step time, the ratio to the floor (pooled, the median of the
per-round ratios, and the median of the ratios of steps timed back to back, the figure to
trust on a shared machine) and the peak memory. ``--mode
loader`` runs the config's real data loader + step end to end, in blocks alternating with
floor steps. ``--sweep``
repeats the step benchmark (each point in a fresh process, for its own peak memory) as the
queue length, batch size and input size grow and reports the queue's share of the step.
``--mode curve`` checks the speed options (``--amp``, ``--channels-last``, ``--compile``):
from the same initial weights and on the same batches, ``--iters`` framework steps with each
option give the same losses as the baseline within a stated tolerance.

``--channels-last`` and ``--compile`` apply to the floor and the framework alike. ``--clock
cpu`` times the steps in the process's CPU time (one thread on a shared CPU machine: it leaves
out the waits for a core). ``bash tools/launch.sh tools/perf/benchmark_step.py N CONFIG ...``
runs the step or loader benchmark as N ranks (``--launcher pytorch``): the framework wrapped
in DDP as the runner wraps it, Shuffle BN across the ranks instead of split BN, the floor's
query encoder in torch's DDP; rank 0 prints.
"""
import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmmoco.apis import register_all_modules
from mmmoco.apis.transfer import drop_persistent_workers
from mmmoco.engine.runner.ddp_wrapping import (ddp_wrapper_cfg, match_channels_last_grad_layout_,
                                               no_forward_buffer_sync, uses_channels_last)
from mmmoco.models.utils import SplitBatchNorm2d, revert_sync_bn_without_cuda
from mmmoco.registry import HOOKS, MODEL_WRAPPERS, MODELS
from mmmoco.utils.distributed import get_rank, is_distributed

SWEEP_QUEUES = (1, 4096, 16384, 65536)

#: --clock: wall time, or the CPU time of the process (leaves out the time it waited for a core
#: on a shared machine; the steps' own threads only, so meant for --threads 1 on CPU)
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a pretraining config')
    parser.add_argument('--mode', choices=['step', 'loader', 'curve'], default='step')
    parser.add_argument('--iters', type=int, default=5, help='timed steps per variant and round')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per variant')
    parser.add_argument('--rounds', type=int, default=3, help='interleaved rounds')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 AmpOptimWrapper on CUDA, bf16 autocast on '
                        'CPU (on whenever the config trains with AmpOptimWrapper)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last inputs (data_preprocessor.channels_last=True)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the encoders (query and key backbone and neck)')
    parser.add_argument('--batch-size', type=int, help='images per step (default: the config)')
    parser.add_argument('--input-size', type=int, help='crop size (default: the config)')
    parser.add_argument('--queue-len', type=int, help='set every queue_len of the model')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                        help='time the steps of --mode step by wall time or by the process\'s '
                        'CPU time (on a shared CPU machine, with --threads 1: leaves out the '
                        'waits for a core)')
    parser.add_argument('--no-single-split', action='store_true',
                        help='skip the single_device_bn_splits=1 variant')
    parser.add_argument('--sweep', action='store_true',
                        help='queue length, batch size and input size sweep')
    parser.add_argument('--json', action='store_true', help='print one JSON line of results')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: one rank of a multi-process run started by '
                        'tools/launch.sh (DDP and Shuffle BN across the ranks, as in '
                        'training; rank 0 prints)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.queue.queue_len=4096')
    args = parser.parse_args(argv)
    for name in ('iters', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    if args.clock == 'cpu' and (args.mode != 'step' or args.device.startswith('cuda')
                                or args.launcher != 'none'):
        parser.error('--clock cpu times CPU steps of --mode step in one process only (a '
                     'loader\'s waits, the other ranks and CUDA kernels are not CPU time of the '
                     'process)')
    if args.sweep and args.launcher != 'none':
        parser.error('--sweep runs its points in processes of its own: no --launcher')
    return args


# ---------------------------------------------------------------- config helpers


def _walk(node, visit: Callable[[dict], None]) -> None:
    """Call ``visit`` on every dict nested in ``node`` (dicts and lists)."""
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, visit)


def _crop_sizes(node) -> List[int]:
    """The (square) output sizes of the ``RandomResizedCrop`` transforms nested in ``node``."""
    sizes: List = []
    _walk(node, lambda d: sizes.append(d['size']) if d.get('type') == 'RandomResizedCrop'
          else None)
    return [size if isinstance(size, int) else size[0] for size in sizes]


def find_crop_size(cfg: Config) -> int:
    """The output size of the first ``RandomResizedCrop`` of the training pipeline.

    Args:
        cfg: A pretraining config.

    Returns:
        The (square) crop size.

    Raises:
        ValueError: If the pipeline has no RandomResizedCrop.
    """
    sizes = _crop_sizes(cfg.train_dataloader.dataset.get('pipeline', []))
    if not sizes:
        raise ValueError('train_dataloader.dataset.pipeline has no RandomResizedCrop: pass '
                         '--input-size')
    return sizes[0]


def view_sizes(cfg: Config, input_size: Optional[int] = None) -> List[int]:
    """The crop size of every view of a sample, in the order of the pipeline's ``MultiView``.

    A multi-crop recipe (``MultiView(num_views=[2, 2], transforms=[global, small])``) gives
    e.g. ``[28, 28, 14, 14]``; a pipeline without MultiView two views of its first crop size.

    Args:
        cfg: A pretraining config.
        input_size: The size of every view instead (``--input-size``), or None.

    Returns:
        One size per view.

    Raises:
        ValueError: If a group of views has no RandomResizedCrop and no ``input_size`` is given.
    """
    multi_views: List[dict] = []
    _walk(cfg.train_dataloader.dataset.get('pipeline', []),
          lambda d: multi_views.append(d) if d.get('type') == 'MultiView' else None)
    if not multi_views:
        return [input_size or find_crop_size(cfg)] * 2
    counts, pipelines = multi_views[0]['num_views'], multi_views[0]['transforms']
    if isinstance(counts, int):
        counts, pipelines = [counts], [pipelines]
    sizes = []
    for count, pipeline in zip(counts, pipelines):
        crops = [input_size] if input_size else _crop_sizes(pipeline)
        if not crops:
            raise ValueError(f'a MultiView group of {count} views has no RandomResizedCrop: '
                             'pass --input-size')
        sizes += crops[:1] * count
    return sizes


def set_crop_size(cfg: Config, size: int) -> None:
    """Set every ``RandomResizedCrop`` of the training pipeline to ``size``.

    Args:
        cfg: The config, changed in place.
        size: The crop size.
    """
    _walk(cfg.train_dataloader.dataset.get('pipeline', []),
          lambda d: d.update(size=size) if d.get('type') == 'RandomResizedCrop' else None)


def set_queue_len(model_cfg: dict, queue_len: int) -> None:
    """Set every ``queue_len`` in the model config (wherever the queue lives).

    Args:
        model_cfg: The model config, changed in place.
        queue_len: The queue length.

    Raises:
        ValueError: If the model has no queue.
    """
    found: List[dict] = []
    _walk(model_cfg, lambda d: found.append(d) if 'queue_len' in d else None)
    if not found:
        raise ValueError('the model config has no queue_len to sweep')
    for node in found:
        node['queue_len'] = queue_len


def load_config(args: argparse.Namespace) -> Config:
    """Load the config, apply --cfg-options, --batch-size, --input-size and --queue-len.

    Args:
        args: The parsed command line.

    Returns:
        The config with ``train_dataloader.batch_size`` and the crop size set.
    """
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    drop_persistent_workers(cfg)  # torch refuses persistent workers with num_workers=0
    if args.batch_size:
        cfg.train_dataloader.batch_size = args.batch_size
    if args.input_size:
        set_crop_size(cfg, args.input_size)
    if args.queue_len:
        set_queue_len(cfg.model, args.queue_len)
    return cfg


# ---------------------------------------------------------------- the steps


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def config_amp(cfg: Config) -> bool:
    """Whether the config trains in mixed precision (``optim_wrapper.type`` AmpOptimWrapper)."""
    return str(cfg.optim_wrapper.get('type', '')).endswith('AmpOptimWrapper')


def optim_wrapper_cfg(cfg: Config, amp: bool, device: torch.device) -> dict:
    """The config's optim wrapper, in mixed precision (fp16 on CUDA, bf16 on CPU) or not.

    Args:
        cfg: The config.
        amp: Mixed precision.
        device: Where the model runs.

    Returns:
        The optim wrapper config: mmmoco's AmpOptimWrapper with ``amp``, else OptimWrapper.
    """
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    for key in ('loss_scale', 'dtype'):
        optim_cfg.pop(key, None)
    if amp:
        optim_cfg.update(type='AmpOptimWrapper',
                         dtype='float16' if device.type == 'cuda' else 'bfloat16')
    else:
        optim_cfg.update(type='OptimWrapper')
    return optim_cfg


def momentum_hooks(cfg: Config) -> list:
    """The config's momentum (EMA) hooks: ``default_hooks.momentum`` and custom ones.

    Args:
        cfg: The config.

    Returns:
        The built hooks (empty for a model without a momentum encoder).
    """
    hooks = [cfg.get('default_hooks', {}).get('momentum')]
    hooks += [hook for hook in cfg.get('custom_hooks', []) if 'Momentum' in str(hook.get('type'))]
    return [HOOKS.build(copy.deepcopy(hook)) for hook in hooks if hook]


def batch_augments(model_cfg: dict) -> list:
    """The batched (on-device) augmentations of the model's data preprocessor, if any."""
    return list((model_cfg.get('data_preprocessor') or {}).get('batch_augments') or [])


def uint8_views(batch: int, sizes: Sequence[int], seed: int) -> List[torch.Tensor]:
    """Random uint8 views, as the data loader delivers them (default_collate).

    Args:
        batch: Images per view.
        sizes: The side of each view (two global views, then any small multi-crop views).
        seed: Seed of the pixels.

    Returns:
        One (batch, 3, size, size) uint8 tensor per size.
    """
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=generator)
            for size in sizes]


def compile_encoders(model: nn.Module, names: Sequence[str]) -> None:
    """``torch.compile`` the named submodules in place (state-dict keys unchanged).

    Args:
        model: The model.
        names: Attribute names of the submodules, e.g. ``('backbone', 'neck')``.
    """
    for name in names:
        getattr(model, name).compile()


class FrameworkStep:
    """The framework's step: ``model.train_step`` plus the momentum hook.

    Args:
        cfg: The config.
        device: Where to run.
        amp: Mixed precision (the optim wrapper's autocast: fp16 on CUDA, bf16 on CPU).
        model_overrides: Model config keys to override (e.g. ``single_device_bn_splits``).
        channels_last: Let the data preprocessor return channels_last images.
        compile: ``torch.compile`` the query and key encoders.
        batch_augment: Keep the data preprocessor's batched augmentations (if the config
            has any); without them the step is the model's alone, as the floor's.
    """

    def __init__(self, cfg: Config, device: torch.device, amp: bool,
                 model_overrides: Optional[dict] = None, channels_last: bool = False,
                 compile: bool = False, batch_augment: bool = True) -> None:
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.update(model_overrides or {})
        if channels_last:
            model_cfg.setdefault('data_preprocessor', dict(type='SelfSupDataPreprocessor'))
            model_cfg.data_preprocessor['channels_last'] = True
        if not batch_augment and batch_augments(model_cfg):
            model_cfg.data_preprocessor.batch_augments = None
        self.model = MODELS.build(model_cfg)
        self.model.init_weights()
        self.model.to(device).train()
        if compile:
            compile_encoders(self.model, [name for pair in ('backbone', 'neck')
                                          for name in (pair, f'momentum_{pair}')
                                          if hasattr(self.model, name)])
        self.optim_wrapper = build_optim_wrapper(self.model, optim_wrapper_cfg(cfg, amp, device))
        self.step_model = self.model
        if is_distributed():  # as the runner wraps it (tools/launch.sh ... --launcher pytorch)
            if uses_channels_last(self.model):
                match_channels_last_grad_layout_(self.model)
            self.step_model = MODEL_WRAPPERS.build(dict(
                ddp_wrapper_cfg(None, find_unused_parameters=False), module=self.model,
                device_ids=None if device.type == 'cpu' else [device.index]))
        self.hooks = momentum_hooks(cfg)
        self.runner = SimpleNamespace(model=self.step_model, optim_wrapper=self.optim_wrapper,
                                      iter=0, max_iters=10**6,
                                      message_hub=MessageHub.get_current_instance())

    @property
    def split_bn(self) -> bool:
        """Whether the model computes BN statistics over split sub-batches."""
        return any(isinstance(m, SplitBatchNorm2d) and m.num_splits > 1
                   for m in self.model.modules())

    def __call__(self, data: dict) -> float:
        """One training step (train_step + momentum update).

        Args:
            data: ``dict(inputs=[view1, view2, ...], data_samples=None)`` with uint8 views.

        Returns:
            The step's loss (a device tensor: reading it would synchronise).
        """
        log_vars = self.step_model.train_step(data, self.optim_wrapper)
        for hook in self.hooks:
            hook.after_train_iter(self.runner, self.runner.iter)
        self.runner.iter += 1
        return log_vars['loss']


class FloorStep:
    """The compute floor: the same encoders and optimizer in a bare PyTorch loop.

    Query forward + backward + optimizer step (the config's optimizer) and key forward (no
    grad), plain BN, a within-batch InfoNCE loss; inputs are already normalised floats on the
    device. For a model with a predictor (MoCo v3) the query encoder includes it and the step is
    symmetric, as MoCo v3's: both views through both encoders, ``ctr(q1, k2) + ctr(q2, k1)``.

    Args:
        cfg: The config (``model.backbone``, ``model.neck``, ``model.predictor`` if any,
            ``optim_wrapper.optimizer`` and ``paramwise_cfg``).
        device: Where to run.
        amp: Mixed precision (fp16 with a grad scaler on CUDA, bf16 on CPU).
        compile: ``torch.compile`` both encoders.
    """

    def __init__(self, cfg: Config, device: torch.device, amp: bool,
                 compile: bool = False) -> None:
        names = [name for name in ('backbone', 'neck', 'predictor') if name in cfg.model]
        self.query = nn.Sequential(*[MODELS.build(copy.deepcopy(cfg.model[name]))
                                     for name in names])
        revert_sync_bn_without_cuda(self.query, 'the floor')  # as the framework does
        self.query.to(device).train()
        self.key = copy.deepcopy(self.query[:2]).requires_grad_(False)
        self.query_step: nn.Module = self.query
        self.symmetric = 'predictor' in names
        optim_cfg = dict(type='OptimWrapper', optimizer=copy.deepcopy(cfg.optim_wrapper.optimizer))
        if cfg.optim_wrapper.get('paramwise_cfg'):
            optim_cfg['paramwise_cfg'] = copy.deepcopy(cfg.optim_wrapper.paramwise_cfg)
        self.optimizer = build_optim_wrapper(self.query, optim_cfg).optimizer
        self.scaler = torch.amp.GradScaler('cuda', enabled=amp and device.type == 'cuda')
        self.device, self.amp = device, amp
        if compile:
            compile_encoders(self, ('query', 'key'))

    def copy_weights(self, model: nn.Module) -> None:
        """Start from the framework's initial weights (split BN has BN's keys), so that both
        steps compute on the same numbers.

        Args:
            model: The framework's model (its ``backbone``, ``neck`` and any ``predictor``).
        """
        for name, module in zip(('backbone', 'neck', 'predictor'), self.query):
            module.load_state_dict(getattr(model, name).state_dict())
        self.key.load_state_dict(self.query[:2].state_dict())

    def distribute(self, channels_last: bool) -> None:
        """Under a process group, all-reduce the query encoder's gradients with DDP, as a bare
        data-parallel loop does (no buffer synchronisation, as the framework's wrapper).

        Args:
            channels_last: Whether the inputs are channels_last (1x1 convolution weights then
                get matching gradient strides, as the runner gives them).
        """
        if not is_distributed():
            return
        if channels_last:
            match_channels_last_grad_layout_(self.query)
        self.query_step = DistributedDataParallel(
            self.query, device_ids=None if self.device.type == 'cpu' else [self.device.index],
            **no_forward_buffer_sync())

    def _loss(self, query_images: torch.Tensor, key_images: torch.Tensor) -> torch.Tensor:
        """Within-batch InfoNCE of the queries of one view against the keys of the other."""
        q = F.normalize(self.query_step(query_images), dim=1)
        with torch.no_grad():
            k = F.normalize(self.key(key_images), dim=1)
        logits = (q @ k.t()).float() / 0.2
        return F.cross_entropy(logits, torch.arange(len(q), device=q.device))

    def __call__(self, data: dict) -> None:
        """One floor step on normalised float views.

        Args:
            data: ``dict(inputs=[query_images, key_images])``, float on the device.
        """
        first, second = data['inputs']
        dtype = torch.float16 if self.device.type == 'cuda' else torch.bfloat16
        with torch.autocast(self.device.type, dtype=dtype, enabled=self.amp):
            loss = self._loss(first, second)
            if self.symmetric:
                loss = loss + self._loss(second, first)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()


# ---------------------------------------------------------------- measurement


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux ``ru_maxrss``), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def queue_mib(model: nn.Module) -> float:
    """Memory of the model's buffers whose name mentions a queue (wherever it lives), in MiB."""
    return sum(b.numel() * b.element_size() for name, b in model.named_buffers()
               if 'queue' in name) / 2**20


def time_variants(variants: Dict[str, Callable[[], None]], iters: int, warmup: int,
                  rounds: int, device: torch.device,
                  clock: Callable[[], float] = time.perf_counter) -> Dict[str, dict]:
    """Time each variant's step, interleaving the variants step by step (A, B, A, B, ...),
    so that a change in the machine's load hits them alike.

    Args:
        variants: Name -> a function running one step.
        iters: Timed steps per variant and round.
        warmup: Untimed steps per variant before the first round.
        rounds: Number of rounds.
        device: The device (synchronised around each step on CUDA).
        clock: The clock that times a step: wall time, or the process's CPU time.

    Returns:
        Name -> ``dict(times=[all step times in s], round_medians=[...], cuda_peak_mib=...)``.
    """
    results = {name: dict(times=[], round_medians=[], cuda_peak_mib=0.0) for name in variants}
    for step in variants.values():
        for _ in range(warmup):
            step()
    for _ in range(rounds):
        times: Dict[str, List[float]] = {name: [] for name in variants}
        for _ in range(iters):
            for name, step in variants.items():
                if device.type == 'cuda':
                    torch.cuda.reset_peak_memory_stats(device)
                _sync(device)
                start = clock()
                step()
                _sync(device)
                times[name].append(clock() - start)
                if device.type == 'cuda':
                    results[name]['cuda_peak_mib'] = max(
                        results[name]['cuda_peak_mib'],
                        torch.cuda.max_memory_allocated(device) / 2**20)
        for name, round_times in times.items():
            results[name]['times'] += round_times
            results[name]['round_medians'].append(statistics.median(round_times))
    return results


def _framework(cfg: Config, args: argparse.Namespace, overrides: Optional[dict] = None,
               batch_augment: bool = True) -> FrameworkStep:
    """The framework step with the command line's device and speed options."""
    return FrameworkStep(cfg, torch.device(args.device), args.amp, overrides,
                         channels_last=args.channels_last, compile=args.compile,
                         batch_augment=batch_augment)


def _floor(cfg: Config, args: argparse.Namespace, framework: FrameworkStep,
           views: List[torch.Tensor]):
    """The floor step and its input: the two global views normalised by the framework's
    preprocessor (outside the timed step), in the same memory format. The floor of a
    multi-crop recipe is that of its two global views: the small views are the recipe's cost.

    Returns:
        The :class:`FloorStep` and ``dict(inputs=[query_images, key_images])``.
    """
    floor = FloorStep(cfg, torch.device(args.device), args.amp, compile=args.compile)
    floor.copy_weights(framework.model)
    floor.distribute(uses_channels_last(framework.model))
    with torch.no_grad():
        normalised = framework.model.data_preprocessor(dict(inputs=views[:2]), False)['inputs']
    return floor, dict(inputs=normalised)


def benchmark_step(cfg: Config, args: argparse.Namespace) -> dict:
    """Run the interleaved step benchmark.

    The framework variants run without the data preprocessor's batched augmentations, as the
    floor does; a config that has them gets one more variant with them.

    Args:
        cfg: The loaded config.
        args: The parsed command line.

    Returns:
        ``dict(batch_size, input_size, view_sizes, world_size, split_bn, queue_mib,
        peak_rss_mib, variants={name: stats})`` with the median step time in ms and the
        ratios to the floor.
    """
    device = torch.device(args.device)
    batch, sizes = cfg.train_dataloader.batch_size, view_sizes(cfg, args.input_size)
    torch.manual_seed(args.seed)
    views = uint8_views(batch, sizes, args.seed)
    framework = _framework(cfg, args, batch_augment=False)
    floor, floor_data = _floor(cfg, args, framework, views)
    raw = dict(inputs=views, data_samples=None)
    variants = {'floor': lambda: floor(floor_data), 'framework': lambda: framework(raw)}
    if framework.split_bn and not args.no_single_split:
        single = _framework(cfg, args, dict(single_device_bn_splits=1), batch_augment=False)
        variants['framework, single_device_bn_splits=1'] = lambda: single(raw)
    if batch_augments(cfg.model):
        augmented = _framework(cfg, args)
        variants['framework + batched augmentation'] = lambda: augmented(raw)
    results = time_variants(variants, args.iters, args.warmup, args.rounds, device,
                            CLOCKS[args.clock])
    floor_rounds = results['floor']['round_medians']
    floor_median = statistics.median(results['floor']['times'])
    summary = {}
    for name, result in results.items():
        median = statistics.median(result['times'])
        summary[name] = dict(
            median_ms=1000 * median, ratio=median / floor_median,
            round_ratio=statistics.median(m / f for m, f in zip(result['round_medians'],
                                                                 floor_rounds)),
            paired_ratio=statistics.median(t / f for t, f in zip(result['times'],
                                                                 results['floor']['times'])),
            cuda_peak_mib=result['cuda_peak_mib'])
    return dict(batch_size=batch, input_size=sizes[0], view_sizes=sizes,
                world_size=world_size(), split_bn=framework.split_bn,
                queue_mib=queue_mib(framework.model), peak_rss_mib=peak_rss_mib(),
                variants=summary)


def endless(loader) -> Iterator:
    """The batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


def benchmark_loader(cfg: Config, args: argparse.Namespace) -> dict:
    """Time the real data loader + framework step end to end against the floor, in
    ``--rounds`` alternating blocks of ``--iters`` iterations each (the machine's load varies).

    A loader block skips its first ``num_workers * prefetch_factor`` iterations, whose batches
    the workers prepared during the floor block.

    Args:
        cfg: The loaded config (its ``train_dataloader`` must point at data).
        args: The parsed command line.

    Returns:
        Median end-to-end iteration, step and data-wait times (ms), the floor's median step,
        the end-to-end ratio to it (pooled, and the median of the per-round ratios).
    """
    from mmengine.runner import Runner
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader), seed=args.seed)
    framework = _framework(cfg, args)
    sizes = view_sizes(cfg, args.input_size)
    views = uint8_views(cfg.train_dataloader.batch_size, sizes, args.seed)
    floor, floor_data = _floor(cfg, args, framework, views)
    batches = endless(loader)
    prefetched = loader.num_workers * (loader.prefetch_factor or 0)
    for _ in range(args.warmup):
        framework(next(batches))
        floor(floor_data)
    waits, steps, ends, floors, round_ratios = [], [], [], [], []
    for _ in range(args.rounds):
        floor_times = time_variants({'floor': lambda: floor(floor_data)}, args.iters, 0, 1,
                                    device)['floor']['times']
        round_ends = []
        for iteration in range(prefetched + args.iters):
            start = time.perf_counter()
            batch = next(batches)
            arrived = time.perf_counter()
            framework(batch)
            _sync(device)
            done = time.perf_counter()
            if iteration >= prefetched:
                waits.append(arrived - start)
                steps.append(done - arrived)
                round_ends.append(done - start)
        floors += floor_times
        ends += round_ends
        round_ratios.append(statistics.median(round_ends) / statistics.median(floor_times))
    floor_median, end_to_end = statistics.median(floors), statistics.median(ends)
    return dict(batch_size=cfg.train_dataloader.batch_size, input_size=sizes[0],
                world_size=world_size(), num_workers=loader.num_workers,
                end_to_end_ms=1000 * end_to_end, step_ms=1000 * statistics.median(steps),
                data_wait_ms=1000 * statistics.median(waits),
                data_wait_share=sum(waits) / sum(ends), floor_ms=1000 * floor_median,
                ratio=end_to_end / floor_median, round_ratio=statistics.median(round_ratios),
                peak_rss_mib=peak_rss_mib())


# ---------------------------------------------------------------- loss curves

# largest loss difference to the baseline, relative to the baseline's mean loss, accepted per
# speed option: channels_last and compile only reorder float sums (~1e-6 per step); bf16
# autocast keeps 8 mantissa bits (fp16 11), and the difference grows over the steps
CURVE_TOLERANCE = {'channels_last': 1e-4, 'compile': 1e-3, 'amp': 5e-2}


def benchmark_curve(cfg: Config, args: argparse.Namespace) -> dict:
    """Train ``--iters`` framework steps per speed option from the same start on the same
    batches, and compare each option's losses with the baseline's.

    Args:
        cfg: The loaded config.
        args: The parsed command line; the options compared are those switched on.

    Returns:
        ``dict(curves={name: [losses]}, max_rel_diff={option: ...}, tolerance={option: ...},
        within={option: bool})``; ``max_rel_diff`` is the largest loss difference to the
        baseline divided by the baseline's mean loss.
    """
    device = torch.device(args.device)
    batch, sizes = cfg.train_dataloader.batch_size, view_sizes(cfg, args.input_size)
    batches = [uint8_views(batch, sizes, args.seed + i) for i in range(args.iters)]
    options = {'baseline': dict()}
    options.update({name: {name: True} for name in CURVE_TOLERANCE if getattr(args, name)})
    curves = {}
    for name, option in options.items():
        torch.manual_seed(args.seed)  # same weights, queue and Shuffle BN permutations
        step = FrameworkStep(cfg, device, option.get('amp', False),
                             channels_last=option.get('channels_last', False),
                             compile=option.get('compile', False))
        curves[name] = [float(step(dict(inputs=views, data_samples=None)).detach())
                        for views in batches]
    scale = statistics.mean(abs(loss) for loss in curves['baseline'])
    diffs = {name: max(abs(a - b) for a, b in zip(curves[name], curves['baseline'])) / scale
             for name in options if name != 'baseline'}
    tolerance = {name: CURVE_TOLERANCE[name] for name in diffs}
    return dict(curves=curves, max_rel_diff=diffs, tolerance=tolerance,
                within={name: diffs[name] <= tolerance[name] for name in diffs})


# ---------------------------------------------------------------- sweep


def sweep_points(batch: int, size: int, queue_len: int) -> List[dict]:
    """The sweep: queue lengths at the base size, then larger batches and inputs.

    Args:
        batch: The base batch size.
        size: The base input size.
        queue_len: The queue length of the batch and input-size points.

    Returns:
        ``dict(batch_size, input_size, queue_len)`` per point.
    """
    points = [dict(batch_size=batch, input_size=size, queue_len=k) for k in SWEEP_QUEUES]
    points += [dict(batch_size=b, input_size=size, queue_len=queue_len)
               for b in (2 * batch, 4 * batch)]
    points += [dict(batch_size=batch, input_size=s, queue_len=queue_len) for s in (2 * size,)]
    return points


def run_sweep(cfg: Config, args: argparse.Namespace, argv: List[str]) -> List[dict]:
    """Run every sweep point in its own process (its own peak memory) and collect results.

    Args:
        cfg: The loaded config.
        args: The parsed command line.
        argv: The original arguments, passed on to each point.

    Returns:
        One result dict per point, with ``queue_len`` added.
    """
    batch, size = cfg.train_dataloader.batch_size, args.input_size or find_crop_size(cfg)
    base = [a for a in argv if a != '--sweep']
    results = []
    for point in sweep_points(batch, size, 4096):
        command = [sys.executable, __file__, *base, '--json', '--no-single-split',
                   '--batch-size', str(point['batch_size']),
                   '--input-size', str(point['input_size']),
                   '--queue-len', str(point['queue_len'])]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        result['queue_len'] = point['queue_len']
        results.append(result)
    return results


# ---------------------------------------------------------------- output


def print_step(result: dict, args: argparse.Namespace) -> None:
    """Print the step benchmark's table."""
    sizes = '+'.join(str(size) for size in result['view_sizes'])
    print(f'{args.config}: batch {result["batch_size"]}, views of {sizes}px, '
          f'device {args.device}, threads {torch.get_num_threads()}, amp {args.amp}, '
          f'{world_size()} process(es), {args.rounds} rounds x {args.iters} steps '
          f'(+{args.warmup} warm-up), {args.clock} clock')
    print('| step | median ms | ratio to floor | median of round ratios | '
          'median of paired step ratios | CUDA peak MiB |')
    print('|---|---|---|---|---|---|')
    for name, stats in result['variants'].items():
        print(f'| {name} | {stats["median_ms"]:.1f} | {stats["ratio"]:.3f} | '
              f'{stats["round_ratio"]:.3f} | {stats["paired_ratio"]:.3f} | '
              f'{stats["cuda_peak_mib"]:.0f} |')
    print(f'peak RSS {result["peak_rss_mib"]:.0f} MiB, queue {result["queue_mib"]:.2f} MiB')


def print_sweep(results: List[dict]) -> None:
    """Print the sweep's table with the queue's share of the step."""
    base = next(r for r in results if r['queue_len'] == SWEEP_QUEUES[0])
    base_ratio = base['variants']['framework']['round_ratio']
    print('| queue | batch | input | floor ms | framework ms | ratio | queue share | '
          'queue MiB | peak RSS MiB |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in results:
        fw, floor = r['variants']['framework'], r['variants']['floor']
        share = (f'{100 * (fw["round_ratio"] - base_ratio) / fw["round_ratio"]:.1f}%'
                 if r['batch_size'] == base['batch_size']
                 and r['input_size'] == base['input_size'] else '-')
        print(f'| {r["queue_len"]} | {r["batch_size"]} | {r["input_size"]} | '
              f'{floor["median_ms"]:.1f} | {fw["median_ms"]:.1f} | {fw["round_ratio"]:.3f} | '
              f'{share} | {r["queue_mib"]:.1f} | {r["peak_rss_mib"]:.0f} |')


def world_size() -> int:
    """Number of processes of the run (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def init_distributed(args: argparse.Namespace) -> None:
    """With ``--launcher pytorch``, join the process group that torchrun describes in the
    environment: gloo on CPU, NCCL on CUDA (each rank on the GPU of its local rank).

    Args:
        args: The parsed command line (``args.device`` gets the rank's GPU index on CUDA).
    """
    if args.launcher == 'none':
        return
    if args.device.startswith('cuda'):
        args.device = f'cuda:{int(os.environ["LOCAL_RANK"])}'
        torch.cuda.set_device(torch.device(args.device))
    dist.init_process_group('nccl' if args.device.startswith('cuda') else 'gloo')


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    init_distributed(args)
    register_all_modules()
    init_default_scope('mmmoco')
    MMLogger.get_instance('benchmark_step', log_level='WARNING')  # quiet init_weights
    cfg = load_config(args)
    args.amp = args.amp or config_amp(cfg)  # the floor in the config's precision too
    if args.sweep:
        print_sweep(run_sweep(cfg, args, argv))
        return
    result = dict(step=benchmark_step, loader=benchmark_loader,
                  curve=benchmark_curve)[args.mode](cfg, args)
    if get_rank() == 0:
        report(result, cfg, args)
    if dist.is_initialized():
        dist.destroy_process_group()  # not at interpreter exit, where gloo may abort a rank


def report(result: dict, cfg: Config, args: argparse.Namespace) -> None:
    """Print a mode's result: one JSON line with ``--json``, else its table or lines."""
    if args.json:
        print(json.dumps(result))
    elif args.mode == 'curve':
        print(f'{args.config}: losses of {args.iters} steps from the same start, batch '
              f'{cfg.train_dataloader.batch_size}, seed {args.seed}')
        for name, curve in result['curves'].items():
            extra = (f' (max relative difference {result["max_rel_diff"][name]:.2e}, '
                     f'tolerance {result["tolerance"][name]:.0e})' if name != 'baseline' else '')
            print(f'{name}: {" ".join(f"{loss:.4f}" for loss in curve)}{extra}')
    elif args.mode == 'loader':
        print(f'{args.config}: real data loader + step, {args.iters} iterations '
              f'(+{args.warmup} warm-up), threads {torch.get_num_threads()}, '
              f'{world_size()} process(es)')
        for key, value in result.items():
            print(f'{key}: {value:.3f}' if isinstance(value, float) else f'{key}: {value}')
    else:
        print_step(result, args)


if __name__ == '__main__':
    main()
