"""Command-line options shared by the training entry points (tools/train.py and the
detection/segmentation transfer wrappers)."""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --work-dir, --resume, --amp, --cfg-options, --launcher and --local_rank.

    Args:
        parser: The parser to extend.
    """
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/[<tool>/]<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or without a path from the '
                        'latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='fp16 mixed precision with dynamic loss scaling (CUDA only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.batch_size=64')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line and export LOCAL_RANK for mmengine.

    Args:
        parser: A parser extended by :func:`add_runner_arguments`.

    Returns:
        The parsed arguments.
    """
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def apply_runner_arguments(cfg: Config, args: argparse.Namespace,
                           work_dir_root: str = './work_dirs') -> Config:
    """Apply the options of :func:`add_runner_arguments` to a loaded config.

    Args:
        cfg: The config loaded from ``args.config``.
        args: The parsed command line.
        work_dir_root: Folder of the default work dir ``<root>/<config name>``.

    Returns:
        The same config, updated.

    Raises:
        SystemExit: If --amp is asked for without CUDA.
    """
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(work_dir_root, osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit("--amp needs CUDA: mmengine's AmpOptimWrapper runs on GPUs only")
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume
    return cfg
