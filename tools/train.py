#!/usr/bin/env python
"""Train a model from an mmmoco config (single process, or one process per device)."""
import argparse

import torch.distributed as dist
from mmengine.config import Config

from mmmoco.apis import register_all_modules
from mmmoco.apis.config_aliases import load_config
from mmmoco.apis.cli import add_runner_arguments, apply_runner_arguments, parse_runner_args
from mmmoco.apis.config_checks import ConfigCheckError, check_config
from mmmoco.engine.runner.resume_checks import ResumeMismatchError
from mmmoco.engine.runner.work_dir_lock import WorkDirBusyError
from mmmoco.registry import RUNNERS


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Train an mmmoco model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate linearly with the total batch size')
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options to it.

    Args:
        args: Parsed command line.

    Returns:
        The final config.
    """
    cfg = apply_runner_arguments(load_config(args.config), args)
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', dict(base_batch_size=256))
        cfg.auto_scale_lr.enable = True
    return cfg


def main() -> None:
    """Check the config, build the runner from it and train.

    Raises:
        SystemExit: If the config has an unknown key or an invalid value (names it),
            another run uses the work dir (names it), or the checkpoint to resume does not
            fit the run (names what changed).
    """
    args = parse_args()
    register_all_modules()
    cfg = build_config(args)
    try:
        check_config(cfg, args.cfg_options)
    except ConfigCheckError as error:
        raise SystemExit(f'{args.config}: {error}') from None
    cfg.setdefault('runner_type', 'MoCoRunner')
    try:
        runner = RUNNERS.build(cfg)
    except WorkDirBusyError as error:
        raise SystemExit(f'{args.config}: {error}') from None
    try:
        runner.train()
    except ResumeMismatchError as error:
        # a user error, not a crash: the message says what changed and what to do, and
        # nothing was written (the check runs before the first iteration)
        raise SystemExit(f'{args.config}: cannot resume: {error}') from None
    if dist.is_available() and dist.is_initialized():
        # leave the process group before exit: a gloo group torn down by the interpreter's exit
        # can abort a rank after the run has finished ("terminate called without an active
        # exception"), turning a complete run into a failed one
        dist.barrier()
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
