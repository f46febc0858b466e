#!/usr/bin/env python
"""Evaluate a trained classifier checkpoint on the config's test split.

The checkpoint is read as data (a config stored in it is ignored) and loaded strictly: a
missing, unexpected or misshapen weight stops the run with the keys named, whatever the
config's ``load_from_strict`` says (a test of partly random weights is meaningless).
"""
import argparse
import json
import os
import os.path as osp

from mmmoco.apis import register_all_modules
from mmmoco.apis.cli import add_cfg_options_argument, default_work_dir
from mmmoco.apis.config_aliases import load_config
from mmmoco.engine.runner.work_dir_lock import WorkDirBusyError
from mmmoco.registry import RUNNERS


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config name>)')
    parser.add_argument('--out', help='write the metrics to this json file (its folder is '
                        'created, and checked, before evaluating)')
    add_cfg_options_argument(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def prepare_out(out: str) -> None:
    """Create the folder of ``--out`` and check that it can be written, before evaluating.

    Args:
        out: The ``--out`` path.

    Raises:
        SystemExit: If ``out`` is a folder, or its folder cannot be created or written.
    """
    if osp.isdir(out):
        raise SystemExit(f'test.py: --out {out} is a folder; give the name of a json file')
    folder = osp.dirname(osp.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise SystemExit(f'test.py: cannot create {folder} for --out {out}: '
                         f'{error.strerror or error}') from None
    if not os.access(folder, os.W_OK):
        raise SystemExit(f'test.py: cannot write --out {out}: {folder} is not writable')


def main() -> None:
    """Check --out, build the runner, load the checkpoint, run the test loop and report the
    metrics."""
    args = parse_args()
    if args.out:
        prepare_out(args.out)
    register_all_modules()
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    cfg.load_from_strict = True
    cfg.setdefault('runner_type', 'MoCoRunner')
    try:
        runner = RUNNERS.build(cfg)
    except WorkDirBusyError as error:
        raise SystemExit(f'test.py: {error}') from None
    metrics = runner.test()
    if args.out and runner.rank == 0:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(metrics, f, indent=2)
    runner.report_outputs('test', metrics=args.out)


if __name__ == '__main__':
    main()
