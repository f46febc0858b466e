"""Issue 20, item 5: a short console, a complete log file, and a last line naming the results.

A real tiny run (20 real images, tests/tiny_run.py) with the demo recipe's speed options
(bf16 autocast through AmpOptimWrapper, channels_last): its console holds no start-up dump
and no warning, and says what mixed precision turned on; its log file keeps everything; its
last line names the work dir, the last checkpoint and the log file.
"""
import argparse
import io
import json
import os
import os.path as osp
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from typing import List, Tuple

import pytest
import torch
from mmengine.config import Config

from conftest import ROOT
from mmmoco.apis.cli import add_runner_arguments, apply_runner_arguments
from mmmoco.engine.optimizers import AmpOptimWrapper
from mmmoco.registry import MODELS
from tiny_run import RECIPE, build_runner, log_text, tiny_config, tiny_images  # noqa: F401

#: How mmengine starts its environment dump, config dump and hook table.
DUMPS = ('System environment:', 'Config:', 'Hooks will be executed in the following order')

#: Warning categories Python shows a user by default (DeprecationWarning & co. are hidden).
SHOWN = (UserWarning, FutureWarning, RuntimeWarning)


def _tiny_run(data_root: str, work_dir: str, **options) -> Tuple[str, List[str]]:
    """Train the tiny run; return its console output and the warnings a user would see."""
    cfg = tiny_config(data_root, work_dir, epochs=1, log_level='INFO',
                      **{'optim_wrapper.type': 'AmpOptimWrapper',
                         'model.data_preprocessor.channels_last': True}, **options)
    console = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(console), \
            redirect_stderr(console):
        warnings.simplefilter('always')  # also those an earlier test already triggered
        build_runner(cfg).train()
    return console.getvalue(), [str(w.message) for w in caught if issubclass(w.category, SHOWN)]


@pytest.fixture(scope='module')
def quiet_run(tiny_images, tmp_path_factory) -> Tuple[str, str, List[str]]:  # noqa: F811
    """One epoch of the tiny run with the default (short) console.

    Returns:
        The work dir, the console output and the warnings shown.
    """
    work_dir = str(tmp_path_factory.mktemp('quiet_run'))
    return (work_dir, *_tiny_run(tiny_images, work_dir))


def test_console_has_no_dumps_and_no_warnings(quiet_run):
    _, console, shown = quiet_run
    assert 'Epoch(train) [1][5/5]' in console
    for dump in DUMPS:
        assert dump not in console
    assert 'Distributed training is not used' not in console  # mmengine's note on SyncBN
    assert 'WARNING' not in console, console
    assert shown == []


def test_log_file_keeps_the_dumps(quiet_run):
    log = log_text(quiet_run[0])
    for dump in DUMPS:
        assert dump in log
    assert 'Name of parameter - Initialization information' in log
    assert "type='AmpOptimWrapper'" in log  # the config dump


def test_amp_line(quiet_run):
    lines = quiet_run[1].splitlines()
    assert sum(line.endswith(' - INFO - mixed precision: bf16 autocast on CPU')
               for line in lines) == 1


def test_last_line_names_work_dir_checkpoint_and_log(quiet_run):
    work_dir, console, _ = quiet_run
    last = console.strip().splitlines()[-1]
    log_file = last.split(', log ')[-1]
    assert last.endswith(f' - INFO - training done: work dir {work_dir}, last checkpoint '
                         f'{osp.join(work_dir, "epoch_1.pth")}, log {log_file}')
    assert osp.isfile(log_file) and osp.dirname(osp.dirname(log_file)) == work_dir


def test_verbose_console_keeps_the_dumps(tiny_images, tmp_path):  # noqa: F811
    console, _ = _tiny_run(tiny_images, str(tmp_path), verbose_console=True)
    for dump in DUMPS:
        assert dump in console


def test_verbose_option_sets_the_config_key():
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    add_runner_arguments(parser)
    for argv, expected in (([RECIPE], None), ([RECIPE, '--verbose'], True)):
        cfg = apply_runner_arguments(Config.fromfile(RECIPE), parser.parse_args(argv))
        assert cfg.get('verbose_console') is expected


@pytest.mark.parametrize('kwargs, summary', [
    ({}, 'bf16 autocast on CPU'),
    ({'dtype': 'float16'}, 'fp16 with dynamic loss scaling on CPU'),
    ({'dtype': 'float16', 'loss_scale': 512.0}, 'fp16 with a fixed loss scale of 512 on CPU'),
])
def test_amp_wrapper_says_what_it_turned_on(kwargs, summary):
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    assert AmpOptimWrapper(optimizer=optimizer, **kwargs).precision_summary() == summary


def test_test_tool_ends_with_where_its_metrics_are(tiny_images, tmp_path):  # noqa: F811
    """tools/test.py --out used to end silently."""
    config = osp.join(ROOT, 'configs', 'benchmarks', 'linear_eval',
                      'resnet18w16-small_linear-1xb256-coslr-10e_fashionmnist.py')
    cfg = Config.fromfile(config)
    cfg.model.num_classes = 20
    checkpoint = str(tmp_path / 'classifier.pth')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), checkpoint)
    work_dir, metrics = str(tmp_path / 'work'), str(tmp_path / 'metrics.json')
    result = subprocess.run(
        [sys.executable, 'tools/test.py', config, checkpoint, '--work-dir', work_dir,
         '--out', metrics, '--cfg-options', 'model.num_classes=20',
         f'test_dataloader.dataset.data_root={tiny_images}', 'test_dataloader.dataset.ann_file=',
         'test_dataloader.dataset.data_prefix=train', 'test_dataloader.num_workers=0',
         'test_dataloader.batch_size=10'],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert f' - INFO - test done: work dir {work_dir}, metrics {metrics}, log {work_dir}' in last
    assert 'accuracy/top1' in json.loads(open(metrics).read())
