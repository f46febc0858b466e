"""Command-line options shared by the training entry points (tools/train.py and the
detection/segmentation transfer wrappers)."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from mmmoco.engine.runner.console_log import VERBOSE_KEY
from mmmoco.apis.schedule_length import follow_max_epochs

#: The scoped type name of mmmoco's mixed-precision wrapper (bf16 on CPU, fp16 on CUDA), so
#: that ``--amp`` picks it whatever the config's default scope.
AMP_OPTIM_WRAPPER = 'mmmoco.AmpOptimWrapper'

#: The folder of every tool's default work dir, ``<root>/<config name>`` (as OpenMMLab's
#: train.py and test.py): the config name alone says the run (pretraining, kNN, linear eval,
#: transfer), so every tool uses the same rule.
WORK_DIR_ROOT = './work_dirs'


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that reports a ``KEY`` without ``=VALUE`` as a usage error
    (one line naming it) instead of an unpacking traceback."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values, option_string: str = None) -> None:
        """Parse ``KEY=VALUE`` pairs into the namespace.

        Args:
            parser: The parser, used to report a malformed pair.
            namespace: Where the dict of options goes.
            values: The ``KEY=VALUE`` strings.
            option_string: The option's name, e.g. ``--cfg-options``.
        """
        for pair in values or ():
            if '=' not in pair:
                parser.error(f"{option_string}: {pair!r} has no '=' (expected KEY=VALUE, "
                             f'e.g. {pair}=VALUE)')
            if pair.startswith('='):
                parser.error(f'{option_string}: {pair!r} has no key (expected KEY=VALUE)')
        super().__call__(parser, namespace, values, option_string)


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options KEY=VALUE ...`` (config overrides) to a parser.

    Args:
        parser: The parser to extend.
    """
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys, e.g. train_dataloader.batch_size=64')


def default_work_dir(config: str) -> str:
    """The work dir of a run when neither ``--work-dir`` nor the config's ``work_dir`` says.

    Args:
        config: The config file given on the command line.

    Returns:
        ``./work_dirs/<config file name without .py>``.
    """
    return osp.join(WORK_DIR_ROOT, osp.splitext(osp.basename(config))[0])


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --work-dir, --resume, --amp, --verbose, --cfg-options, --launcher and --local_rank.

    Args:
        parser: The parser to extend.
    """
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or without a path from the '
                        'checkpoint of the work dir with the highest recorded iteration (a new '
                        'run if the work dir has none: one command for a job and its restarts)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with dynamic loss scaling on CUDA, '
                        'bf16 autocast on CPU')
    parser.add_argument('--verbose', action='store_true',
                        help='also print the config, environment and hook dumps on the console '
                        '(the log file in the work dir always has them)')
    add_cfg_options_argument(parser)
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


def apply_runner_arguments(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the options of :func:`add_runner_arguments` to a loaded config.

    Args:
        cfg: The config loaded from ``args.config``.
        args: The parsed command line; without ``--work-dir`` or a ``work_dir`` in the
            config, the work dir is :func:`default_work_dir`.

    Returns:
        The same config, updated.
    """
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        max_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
        cfg.merge_from_dict(args.cfg_options)
        follow_max_epochs(cfg, max_epochs, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    if args.verbose:
        cfg[VERBOSE_KEY] = True
    if args.amp:
        cfg.optim_wrapper.type = AMP_OPTIM_WRAPPER
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume
    return cfg
