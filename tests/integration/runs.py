"""The one fixture module of the multi-process end-to-end tests: running the repository's
commands (tools/*.sh, tools/*.py) as a user would, one thread per process, each run on its own
rendezvous port; and the tiny 2-process DDP run they share."""
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

from conftest import ROOT, free_port
from tiny_run import RECIPE

HERE = osp.dirname(osp.abspath(__file__))

#: A tiny run's config: iteration checkpoints every 3 iterations and epoch checkpoints.
#: ``signal_hooks`` (this folder) is importable by the runs.
LEAF = f"""_base_ = {RECIPE!r}
custom_imports = dict(imports=['signal_hooks'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=3, max_keep_ckpts=-1),
    logger=dict(interval=1))
custom_hooks = [
    dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=-1),
]
"""


def command_env(port: Optional[int] = None, **extra: str) -> Dict[str, str]:
    """The environment of a command under test: this repository and the test hooks on the
    path, one thread, its own rendezvous port.

    Args:
        port: The DDP rendezvous port (``PORT``); a free one when None.
        **extra: Further variables.

    Returns:
        The environment.
    """
    return dict(os.environ, PYTHONPATH=f'{ROOT}{os.pathsep}{HERE}', OMP_NUM_THREADS='1',
                PYTHON=sys.executable, PORT=str(port if port is not None else free_port()),
                **extra)


def run_command(cmd: List[str], port: Optional[int] = None, timeout: int = 900,
                expect: int = 0, env: Optional[Dict[str, str]] = None) -> str:
    """Run a command from the repository root and return its output, failing the test with
    the output's tail if its exit status is not ``expect``.

    Args:
        cmd: The command, e.g. ``['bash', 'tools/dist_train.sh', CONFIG, '2', ...]``.
        port: The DDP rendezvous port (``PORT``); a free one when None.
        timeout: Seconds before the test fails.
        expect: The expected exit status (negative: killed by that signal).
        env: The environment (default: :func:`command_env` with ``port``).

    Returns:
        Its stdout and stderr, concatenated.
    """
    result = subprocess.run(cmd, cwd=ROOT, env=env or command_env(port), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == expect, (f'exit status {result.returncode}, expected {expect}\n'
                                         + result.stdout[-3000:] + result.stderr[-5000:])
    return result.stdout + result.stderr


def tiny_options(data_root: str, batch_size: int = 2, epochs: int = 2) -> List[str]:
    """``--cfg-options`` of the tiny run: 20 images, 5 iterations an epoch with 2 processes of
    ``batch_size`` 2 (or 1 process of 4), a width-4 ResNet-18 on 16-px crops.

    Args:
        data_root: Folder with ``train/<class>/*.png``.
        batch_size: Images per process.
        epochs: Training epochs.

    Returns:
        The options.
    """
    return [
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.dataset.ann_file=',
        'train_dataloader.dataset.data_prefix=train', f'train_dataloader.batch_size={batch_size}',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.transforms.0.size=16',
        'model.backbone.base_channels=4', 'model.neck.in_channels=32',
        'model.neck.hidden_channels=32', 'model.queue.queue_len=16',
        f'train_cfg.max_epochs={epochs}', f'param_scheduler.0.T_max={epochs}',
        f'param_scheduler.0.end={epochs}', 'randomness.seed=0']


def write_config(folder: str, name: str, extra: str = '') -> str:
    """Write :data:`LEAF` plus ``extra`` lines as a config file.

    Args:
        folder: Where.
        name: The file name.
        extra: Config lines appended (e.g. a ``custom_hooks`` with a signal hook).

    Returns:
        The config's path.
    """
    path = osp.join(folder, name)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(LEAF + extra)
    return path


def dist_train(config: str, data_root: str, work_dir: str, *extra: str,
               options: Sequence[str] = (), expect: int = 0,
               env: Optional[Dict[str, str]] = None) -> str:
    """tools/dist_train.sh CONFIG 2 on the tiny run.

    Args:
        config: The config file.
        data_root: The tiny images.
        work_dir: The work dir.
        *extra: Further tools/train.py arguments (before ``--cfg-options``).
        options: Further ``--cfg-options``.
        expect: The expected exit status.
        env: The environment (default: :func:`command_env`).

    Returns:
        The output.
    """
    return run_command(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir,
                        *extra, '--cfg-options', *tiny_options(data_root), *options],
                       timeout=600, expect=expect, env=env)


_UNINTERRUPTED: Dict[str, str] = {}


def uninterrupted_ddp_run(data_root: str, tmp_path_factory) -> str:
    """The work dir of the uninterrupted 2-process tiny run (2 epochs of 5 iterations), run
    once per session (the test modules share it; copy it before changing anything).

    Args:
        data_root: The tiny images.
        tmp_path_factory: pytest's factory, for the work dir.

    Returns:
        The work dir (``iter_3/6/9.pth``, ``epoch_1/2.pth``).
    """
    if data_root not in _UNINTERRUPTED:
        folder = str(tmp_path_factory.mktemp('ddp'))
        work_dir = osp.join(folder, 'uninterrupted')
        out = dist_train(write_config(folder, 'ddp_tiny.py'), data_root, work_dir)
        assert 'MoCo: Shuffle BN across all ranks' in out
        _UNINTERRUPTED[data_root] = work_dir
    return _UNINTERRUPTED[data_root]
