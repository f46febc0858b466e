#!/usr/bin/env python
"""Soak test: train the small Fashion-MNIST recipe for a few hundred iterations with data
loader workers and report the resident memory (RSS) at the start and the end.

A leak (a growing log history, tensors kept across steps, workers that are not reaped at the
end of an epoch) shows as RSS that grows with the iterations. The run is epoch-based, as
real runs are (so workers are started and reaped at every epoch boundary), for the whole
epochs that cover ``--iters`` iterations, with the recipe's cosine schedule over them. RSS is sampled after the first iteration (the start:
allocator, model and optimizer state are warm) and at the end of training, for the main
process and, separately, for its worker processes at each epoch's last iteration.

Example (about 4 minutes on 2 CPU cores)::

    python tools/perf/soak_test.py data/fashion_mnist --iters 300

Exit status 1 if the main process grew by more than ``--max-growth-mb``.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
import tempfile
from typing import Dict, List, Optional

from mmengine.config import Config
from mmengine.hooks import Hook

from mmmoco.apis import register_all_modules
from mmmoco.apis.config_checks import check_config
from mmmoco.registry import DATASETS, RUNNERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECIPE = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from ``/proc/PID/status`` (Linux).

    Args:
        pid: The process id.

    Returns:
        RSS in MiB (0.0 if the process is gone).
    """
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pids(pid: int) -> List[int]:
    """The direct children of a process (its data loader workers), from ``/proc``.

    Args:
        pid: The parent's process id.

    Returns:
        The children's ids.
    """
    children = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', encoding='ascii', errors='replace') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


class RSSMonitorHook(Hook):
    """Record the main process's RSS after the first iteration and at the end of training,
    and its workers' total RSS at the last iteration of each epoch."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.samples: Dict[str, float] = {}
        self.workers: List[float] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Sample RSS after the first iteration and at each epoch's last iteration.

        Args:
            runner: The runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: The batch.
            outputs: The step's outputs.
        """
        if runner.iter == 0:
            self.samples['start_mb'] = rss_mb(os.getpid())
        if batch_idx == len(runner.train_dataloader) - 1:
            self.workers.append(sum(rss_mb(child) for child in child_pids(os.getpid())))

    def after_train(self, runner) -> None:
        """Sample the main process's RSS at the end.

        Args:
            runner: The runner.
        """
        self.samples['end_mb'] = rss_mb(os.getpid())


def soak_config(data_root: str, work_dir: str, iters: int, batch_size: int,
                num_workers: int, seed: int) -> Config:
    """The small Fashion-MNIST recipe, sized for the soak run.

    Args:
        data_root: Fashion-MNIST prepared by tools/dataset_converters/prepare_fashion_mnist.py.
        work_dir: Where the log and the checkpoints go.
        iters: Iterations to run (rounded up to whole epochs).
        batch_size: Images per batch.
        num_workers: Data loader worker processes.
        seed: Random seed.

    Returns:
        The config: the recipe's schedule over the whole epochs covering ``iters``, a
        checkpoint after every epoch (one kept).
    """
    cfg = Config.fromfile(RECIPE)
    cfg.work_dir = work_dir
    loader = cfg.train_dataloader
    loader.dataset.data_root = data_root
    loader.batch_size = batch_size
    loader.num_workers = num_workers
    loader.persistent_workers = False
    dataset = DATASETS.build(copy.deepcopy(loader.dataset))
    per_epoch = len(dataset) // batch_size if loader.get('drop_last', False) else math.ceil(
        len(dataset) / batch_size)
    if per_epoch < 1:
        raise ValueError(f'{data_root}: {len(dataset)} training images, fewer than one batch '
                         f'of {batch_size}')
    epochs = math.ceil(iters / per_epoch)
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler[0].T_max = epochs
    cfg.param_scheduler[0].end = epochs
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = max(1, iters // 10)
    cfg.randomness = dict(seed=seed)
    return cfg


def run_soak(args: argparse.Namespace) -> dict:
    """Train and measure.

    Args:
        args: The parsed command line.

    Returns:
        The measurements: iterations, RSS at start and end and its growth (MiB), the
        workers' total RSS at each epoch end.
    """
    register_all_modules()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='mmmoco-soak-')
    cfg = soak_config(args.data_root, work_dir, args.iters, args.batch_size, args.num_workers,
                      args.seed)
    check_config(cfg)
    cfg.setdefault('runner_type', 'MoCoRunner')
    runner = RUNNERS.build(cfg)
    monitor = RSSMonitorHook()
    runner.register_hook(monitor)
    runner.train()
    start, end = monitor.samples['start_mb'], monitor.samples['end_mb']
    return dict(iterations=runner.iter, epochs=runner.epoch, batch_size=args.batch_size,
                num_workers=args.num_workers, seed=args.seed, rss_start_mb=round(start, 1),
                rss_end_mb=round(end, 1), rss_growth_mb=round(end - start, 1),
                worker_rss_mb=[round(value, 1) for value in monitor.workers],
                work_dir=work_dir)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='Fashion-MNIST folder (prepare_fashion_mnist.py)')
    parser.add_argument('--iters', type=int, default=300,
                        help='iterations (rounded up to whole epochs)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', help='default: a new temporary folder')
    parser.add_argument('--max-growth-mb', type=float, default=100.0,
                        help='fail if the main process grows by more than this')
    parser.add_argument('--out', help='also write the measurements to this json file')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.batch_size < 1 or args.num_workers < 0:
        parser.error('--iters and --batch-size must be >= 1, --num-workers >= 0')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the soak test and print its measurements.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 if the main process's RSS grew by at most ``--max-growth-mb``, else 1.
    """
    args = parse_args(argv)
    result = run_soak(args)
    print(f"soak: {result['iterations']} iterations ({result['epochs']} epochs, batch "
          f"{result['batch_size']}, {result['num_workers']} workers, seed {result['seed']}): "
          f"RSS {result['rss_start_mb']:.1f} MiB after the first iteration, "
          f"{result['rss_end_mb']:.1f} MiB at the end ({result['rss_growth_mb']:+.1f} MiB); "
          f"workers at each epoch end: {result['worker_rss_mb']} MiB")
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
    if result['rss_growth_mb'] > args.max_growth_mb:
        print(f'soak: RSS grew by more than --max-growth-mb={args.max_growth_mb:g}',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
