#!/usr/bin/env python
"""One command that measures a CUDA machine: the MoCo steps against their floors, the loader.

On a machine with CUDA it measures, in a few minutes (``--budget-s`` stops it starting new
measurements in time):

- the MoCo v2 ResNet-50 step (``configs/mocov2_r50_8xb32-coslr-200e_in1k.py``: fp16 AMP,
  channels_last, batch 64, 224 px) and the MoCo v3 ViT-S step
  (``configs/mocov3_vit-s16_16xb256-amp-coslr-300e_in1k.py``: fp16 AMP, batch 128, 224 px),
  each against its compute floor, with the step benchmark ``tools/perf/benchmark_step.py``
  (images/s, the paired ratio to the floor, peak CUDA memory);
- the data loader of ``configs/mocov2_r50_8xb32-coslr-200e_in1k_batchaug.py`` on real JPEGs:
  workers decode, crop and flip on the CPU, the colour jitter, grayscale and blur run batched
  on the GPU (images/s with 1 and with ``--workers`` workers), and the batched augmentation
  alone on the GPU;
- with two GPUs or more, the same steps (benchmark_step's own DDP mode, ``--launcher
  pytorch``) and the loader under DDP on two GPUs (two spawned processes, NCCL; each process
  has half the workers).

It prints one table and writes it as JSON (``--out``). Without CUDA it says so and exits 0
without measuring; ``--smoke`` runs every measurement once, at tiny sizes, on the CPU (DDP as a
one-process gloo group), to check the code.
"""
import argparse
import contextlib
import copy
import gc
import io
import json
import os
import os.path as osp
import socket
import sys
import tempfile
import time
from typing import List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_step  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
R50_CONFIG = osp.join(ROOT, 'configs', 'mocov2_r50_8xb32-coslr-200e_in1k.py')
VIT_CONFIG = osp.join(ROOT, 'configs', 'mocov3_vit-s16_16xb256-amp-coslr-300e_in1k.py')
LOADER_CONFIG = osp.join(ROOT, 'configs', 'mocov2_r50_8xb32-coslr-200e_in1k_batchaug.py')

#: The steps measured: name -> (config, benchmark_step arguments), full size and smoke size.
STEPS = {
    'MoCo v2 ResNet-50 step (fp16 AMP, channels_last)': (
        R50_CONFIG, ['--batch-size', '64', '--input-size', '224', '--amp', '--channels-last'],
        # smoke: a ResNet-18 (same code path, a quarter of the build and step time), 2 images
        # per split-BN sub-batch (BN needs more than one value per channel)
        ['--batch-size', '16', '--input-size', '32', '--amp', '--channels-last',
         '--cfg-options', 'model.backbone.depth=18', 'model.neck.in_channels=512',
         'model.neck.hidden_channels=64', 'model.queue.queue_len=256']),
    'MoCo v3 ViT-S step (fp16 AMP)': (
        VIT_CONFIG, ['--batch-size', '128', '--input-size', '224', '--amp'],
        ['--batch-size', '4', '--input-size', '32', '--amp', '--cfg-options',
         'model.backbone.img_size=32', 'model.backbone.arch.embed_dims=64',
         'model.backbone.arch.depth=2', 'model.backbone.arch.num_heads=4',
         'model.neck.in_channels=64', 'model.neck.hidden_channels=64',
         'model.predictor.hidden_channels=64',
         # the floor builds the neck as configured, and torch's DDP refuses SyncBN on the CPU
         *(f'model.{part}.{norm}.type=BN' for part in ('neck', 'predictor')
           for norm in ('norm_cfg', 'last_norm_cfg'))]),
}
COLUMNS = ('measurement', 'devices', 'batch', 'images/s', 'floor images/s',
           'ratio to floor', 'peak MiB', 'floor peak MiB', 'seconds')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', help='an ImageNet-style root (train/<class>/*.JPEG) for '
                        'the loader; default: the 20 sample ImageNet JPEGs '
                        '(tools/dataset_converters/prepare_sample_imagenet.py)')
    parser.add_argument('--workers', type=int, default=min(16, os.cpu_count() or 1),
                        help='data loader workers of the loader measurement')
    parser.add_argument('--iters', type=int, default=10, help='timed steps per round')
    parser.add_argument('--rounds', type=int, default=3, help='interleaved rounds')
    parser.add_argument('--batches', type=int, default=30, help='timed loader batches')
    parser.add_argument('--budget-s', type=float, default=420,
                        help='start no measurement after this many seconds')
    parser.add_argument('--out', default=osp.join('work_dirs', 'gpu_check', 'gpu_check.json'),
                        help='where to write the JSON')
    parser.add_argument('--smoke', action='store_true',
                        help='every measurement once at tiny sizes on the CPU')
    args = parser.parse_args(argv)
    for name in ('workers', 'iters', 'rounds', 'batches'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


# ---------------------------------------------------------------- the measurements


def step_argv(config: str, options: List[str], device: str, args: argparse.Namespace
              ) -> List[str]:
    """benchmark_step's command line for one step measurement (floor and framework only).

    Args:
        config: The config.
        options: The size and precision options (a trailing ``--cfg-options ...`` allowed).
        device: ``cuda``, ``cuda:1`` or ``cpu``.
        args: The parsed command line (its iterations and rounds; one of each with --smoke).

    Returns:
        The arguments.
    """
    iters, rounds, warmup = (1, 1, 0) if args.smoke else (args.iters, args.rounds, 3)
    return [config, '--device', device, '--iters', str(iters), '--rounds', str(rounds),
            '--warmup', str(warmup), '--no-single-split', '--json', *options]


def step_row(result: dict, name: str, devices: int) -> dict:
    """A table row from benchmark_step's JSON result.

    Args:
        result: benchmark_step's result (``batch_size`` per process, ``variants``).
        name: The measurement's name.
        devices: The number of processes (each with ``batch_size`` images).

    Returns:
        The row: images/s of the framework and the floor (all processes), the median of the
        paired step ratios, the peak CUDA memory of each (one process; None on the CPU).
    """
    images = result['batch_size'] * devices
    framework, floor = result['variants']['framework'], result['variants']['floor']
    return {'measurement': name, 'devices': devices, 'batch': images,
            'images/s': 1000 * images / framework['median_ms'],
            'floor images/s': 1000 * images / floor['median_ms'],
            'ratio to floor': framework['paired_ratio'],
            # benchmark_step gives 0 without CUDA: no CUDA peak, not an empty one
            'peak MiB': framework['cuda_peak_mib'] or None,
            'floor peak MiB': floor['cuda_peak_mib'] or None}


def measure_step(argv: List[str]) -> Optional[dict]:
    """Run benchmark_step (its ``main``, in this process) and return its JSON result.

    Args:
        argv: benchmark_step's arguments, with ``--json``.

    Returns:
        The parsed result, or None where it printed nothing (ranks other than 0).
    """
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        benchmark_step.main(argv)
    lines = out.getvalue().strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def build_loader(root: str, workers: int, batch: int, pin_memory: bool, seed: int):
    """The loader of the batched-augmentation config on ``root``, endless (InfiniteSampler).

    Args:
        root: An ImageNet-style root (``train/<class>/*``).
        workers: Loader workers (0: in this process).
        batch: Images per batch.
        pin_memory: Pin the batches (for CUDA).
        seed: Seed of the sampler and of the workers' augmentation.

    Returns:
        The DataLoader.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(Config.fromfile(LOADER_CONFIG).train_dataloader)
    loader_cfg.update(batch_size=batch, num_workers=workers, persistent_workers=False,
                      pin_memory=pin_memory, sampler=dict(type='InfiniteSampler', shuffle=True))
    loader_cfg.dataset.data_root = root
    return Runner.build_dataloader(loader_cfg, seed=seed)


def batch_augmenter(device: torch.device) -> torch.nn.Module:
    """The batched-augmentation config's data preprocessor (normalisation and the batched
    colour jitter, grayscale and blur) on ``device``."""
    from mmengine.config import Config

    from mmmoco.registry import MODELS
    return MODELS.build(Config.fromfile(LOADER_CONFIG).model.data_preprocessor).to(device)


def time_loader(loader, preprocessor: torch.nn.Module, device: torch.device, warmup: int,
                batches: int) -> float:
    """Images per second of ``loader`` with each batch augmented by ``preprocessor``.

    Args:
        loader: An endless loader.
        preprocessor: The data preprocessor run on each batch (training mode).
        device: The preprocessor's device (synchronised before reading the clock).
        warmup: Untimed batches first (worker start-up).
        batches: Timed batches.

    Returns:
        Images per second.
    """
    batch_iter = iter(loader)
    images = 0
    for index in range(warmup + batches):
        if index == warmup:
            _sync(device)
            start = time.perf_counter()
        data = next(batch_iter)
        if index >= warmup:
            images += len(data['inputs'][0])
        with torch.no_grad():
            preprocessor(data, True)
    _sync(device)
    return images / (time.perf_counter() - start)


def time_batch_augmentation(preprocessor: torch.nn.Module, device: torch.device, batch: int,
                            size: int, repeats: int) -> float:
    """Images per second of the batched augmentation alone on ``device`` (uint8 views of
    ``size`` px, two per image, already on the device)."""
    views = [torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
             for _ in range(2)]
    with torch.no_grad():
        preprocessor(dict(inputs=views), True)
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            preprocessor(dict(inputs=views), True)
        _sync(device)
    return repeats * batch / (time.perf_counter() - start)


def loader_rows(root: str, worker_counts: List[int], device: torch.device,
                args: argparse.Namespace, devices: int = 1) -> List[dict]:
    """The loader measurements: for each worker count, the loader with the batched
    augmentation on ``device``.

    Args:
        root: The ImageNet-style root.
        worker_counts: Worker counts to measure (per process).
        device: Where the batched augmentation runs.
        args: The parsed command line.
        devices: The number of processes measuring at the same time (their rates are summed
            by the caller); only names the rows.

    Returns:
        One row per worker count.
    """
    batch = 4 if args.smoke else 64
    preprocessor = batch_augmenter(device)
    rows = []
    for workers in worker_counts:
        start = time.perf_counter()
        loader = build_loader(root, workers, batch, device.type == 'cuda', seed=0)
        # the workers' first batches come at once: time from a steady state on, over a few
        # batches per worker
        prefetched = workers * (loader.prefetch_factor or 0)
        warmup, batches = (1, 2) if args.smoke else (prefetched + 2, max(args.batches,
                                                                          4 * workers))
        rate = time_loader(loader, preprocessor, device, warmup, batches)
        rows.append({'measurement': f'loader, {workers} worker(s) per process: decode, crop, '
                     f'flip on the CPU, batched augmentation on the device',
                     'devices': devices, 'batch': batch, 'images/s': rate,
                     'seconds': time.perf_counter() - start})
    return rows


# ---------------------------------------------------------------- DDP


def free_ports(count: int) -> List[int]:
    """``count`` distinct free TCP ports on the loopback interface."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(('127.0.0.1', 0))
        return [sock.getsockname()[1] for sock in sockets]


@contextlib.contextmanager
def rank_environment(rank: int, world: int):
    """The environment torchrun gives a rank (``env://`` rendezvous on the loopback
    interface), restored afterwards; ``MASTER_PORT`` is set per process group.

    Args:
        rank: This process's rank (and local rank: one machine).
        world: The number of processes.
    """
    names = ('MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK')
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(MASTER_ADDR='127.0.0.1', RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ddp_worker(rank: int, world: int, ports: List[int], args: argparse.Namespace, root: str,
               result_path: str) -> None:
    """One rank of the DDP measurements: each step by benchmark_step's own DDP mode
    (``--launcher pytorch``: a process group per measurement, the model wrapped as the runner
    wraps it, the floor's query encoder in torch's DDP), then the loaders of all ranks at once
    (``args.workers // world`` workers each); rank 0 writes the rows to ``result_path``.

    Args:
        rank: This process's rank.
        world: The number of processes.
        ports: One rendezvous port per process group (the steps', then the loaders').
        args: The parsed command line.
        root: The ImageNet-style root of the loader.
        result_path: The JSON file rank 0 writes.
    """
    import torch.distributed as dist
    cuda = not args.smoke
    rows = []
    with rank_environment(rank, world):
        for (name, (config, options, smoke_options)), port in zip(STEPS.items(), ports):
            os.environ['MASTER_PORT'] = str(port)
            start = time.perf_counter()
            result = measure_step(step_argv(config, smoke_options if args.smoke else options,
                                            'cuda' if cuda else 'cpu', args)
                                  + ['--launcher', 'pytorch'])
            if result is not None:  # rank 0 prints the result
                rows.append(dict(step_row(result, f'{name}, DDP', world),
                                 seconds=time.perf_counter() - start))
            release_memory()
        os.environ['MASTER_PORT'] = str(ports[len(STEPS)])
        device = torch.device(f'cuda:{rank}' if cuda else 'cpu')
        if cuda:
            torch.cuda.set_device(device)  # NCCL's collectives run on the current device
        dist.init_process_group('nccl' if cuda else 'gloo')
        try:
            dist.barrier()
            loader = loader_rows(root, [max(1, args.workers // world)], device, args, world)[0]
            rates = torch.tensor([loader['images/s']], device=device)
            dist.all_reduce(rates)
        finally:
            dist.destroy_process_group()
    if rank == 0:
        rows.append(dict(loader, batch=loader['batch'] * world, **{'images/s': rates.item()}))
        with open(result_path, 'w') as file:
            json.dump(rows, file)


def ddp_rows(args: argparse.Namespace, root: str) -> List[dict]:
    """The DDP measurements on two GPUs (two spawned processes), or, with ``--smoke``, as a
    one-process gloo group in this process.

    Args:
        args: The parsed command line.
        root: The ImageNet-style root of the loader.

    Returns:
        The rows of rank 0.
    """
    ports = free_ports(len(STEPS) + 1)
    with tempfile.TemporaryDirectory() as tmp:
        result_path = osp.join(tmp, 'ddp.json')
        if args.smoke:
            ddp_worker(0, 1, ports, args, root, result_path)
        else:
            torch.multiprocessing.spawn(ddp_worker, args=(2, ports, args, root, result_path),
                                        nprocs=2)
        with open(result_path) as file:
            return json.load(file)


# ---------------------------------------------------------------- the run


def release_memory() -> None:
    """Free what the last measurement left, so the next one's peak memory is its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def machine() -> dict:
    """What the measurements ran on."""
    info = dict(torch=torch.__version__, cuda=torch.version.cuda, cpus=os.cpu_count(),
                gpus=torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if info['gpus']:
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def sample_images(folder: str) -> str:
    """Write the 20 sample ImageNet JPEGs as an ImageNet-style root in ``folder``.

    Returns:
        ``folder``.
    """
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    from prepare_sample_imagenet import write_sample_imagenet
    write_sample_imagenet(folder)
    return folder


def run_checks(args: argparse.Namespace, root: str) -> List[dict]:
    """Every measurement in turn, skipping those that would start after ``--budget-s``.

    Args:
        args: The parsed command line.
        root: The ImageNet-style root of the loader.

    Returns:
        The table's rows (a skipped one says so in ``skipped``).
    """
    device = 'cpu' if args.smoke else 'cuda'
    start = time.perf_counter()
    rows: List[dict] = []

    def within_budget(name: str) -> bool:
        if time.perf_counter() - start <= args.budget_s:
            return True
        rows.append({'measurement': name, 'skipped': f'over --budget-s {args.budget_s:.0f}'})
        return False

    for name, (config, options, smoke_options) in STEPS.items():
        if within_budget(name):
            began = time.perf_counter()
            result = measure_step(step_argv(config, smoke_options if args.smoke else options,
                                            device, args))
            rows.append(dict(step_row(result, name, 1), seconds=time.perf_counter() - began))
            release_memory()
    if within_budget('loader'):
        rows += loader_rows(root, [1] if args.smoke else sorted({1, args.workers}),
                            torch.device(device), args)
        began = time.perf_counter()
        batch, repeats = (4, 1) if args.smoke else (64, 20)
        rate = time_batch_augmentation(batch_augmenter(torch.device(device)),
                                       torch.device(device), batch, 32 if args.smoke else 224,
                                       repeats)
        rows.append({'measurement': 'batched augmentation alone on the device (no loader)',
                     'devices': 1, 'batch': batch, 'images/s': rate,
                     'seconds': time.perf_counter() - began})
    if args.smoke or machine()['gpus'] >= 2:
        if within_budget('DDP on 2 GPUs'):
            rows += ddp_rows(args, root)
    return rows


def format_table(rows: List[dict]) -> str:
    """The rows as one Markdown table (numbers rounded, missing values as '-').

    Args:
        rows: Measurement rows (keys of :data:`COLUMNS`, or ``skipped``).

    Returns:
        The table.
    """
    def cell(row: dict, key: str) -> str:
        if key == 'measurement' and row.get('skipped'):
            return f'{row[key]} (skipped: {row["skipped"]})'
        value = row.get(key)
        if value is None:
            return '-'
        if key == 'ratio to floor':
            return f'{value:.3f}'
        return f'{value:.1f}' if isinstance(value, float) else str(value)
    lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|---' * len(COLUMNS) + '|']
    lines += ['| ' + ' | '.join(cell(row, key) for key in COLUMNS) + ' |' for row in rows]
    return '\n'.join(lines)


def write_json(path: str, rows: List[dict], args: argparse.Namespace) -> None:
    """Write the rows, the machine and the command line's settings as JSON.

    Args:
        path: The JSON file (its folder is created).
        rows: The measurement rows.
        args: The parsed command line.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as file:
        json.dump(dict(machine=machine(), settings=vars(args), rows=rows), file, indent=1)


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point.

    Returns:
        The exit status: 0 (also when there is no CUDA and nothing was measured).
    """
    args = parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        print('gpu_check: CUDA is not available on this machine: nothing was measured. Run it '
              'on a CUDA machine (or with --smoke to run each measurement once on the CPU).')
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = args.images or sample_images(tmp)
        began = time.perf_counter()
        rows = run_checks(args, root)
    print(f'gpu_check on {machine()}, {time.perf_counter() - began:.0f} s'
          + (' (--smoke: tiny sizes on the CPU, not a measurement)' if args.smoke else ''))
    print(format_table(rows))
    write_json(args.out, rows, args)
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
