"""Issue 9, items 3 (build-time validation of the optimizer's numbers) and 6 (config part):
unknown top-level keys, hook argument typos and malformed ``--cfg-options`` stop the run at
start-up with one message naming the key."""
import argparse
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT
from mmmoco.apis.cli import add_runner_arguments
from mmmoco.apis.config_checks import (ConfigCheckError, check_config, hook_arguments,
                                       keys_set_by_file)

RECIPE = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')


def _recipe(**options) -> Config:
    cfg = Config.fromfile(RECIPE)
    cfg.merge_from_dict(options)
    return cfg


def _check(options: dict) -> None:
    check_config(_recipe(**options), options)


def _own_configs():
    """The repository's configs that mmmoco's tools run (not the mmdet / mmseg ones)."""
    paths = glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    return sorted(path for path in paths if '_base_' not in path
                  and not any(part in path for part in ('mmdetection', 'mmsegmentation')))


@pytest.mark.parametrize('path', _own_configs(), ids=lambda path: osp.relpath(path, ROOT))
def test_shipped_configs_pass(path):
    check_config(Config.fromfile(path))


@pytest.mark.parametrize('key, suggestion', [('train_cfgs.max_epochs', 'train_cfg'),
                                             ('randomnes.seed', 'randomness'),
                                             ('optim_wraper.optimizer.lr', 'optim_wrapper')])
def test_unknown_top_level_key_from_command_line_suggests_close_match(key, suggestion):
    with pytest.raises(ConfigCheckError,
                       match=rf"unknown top-level config key '{key.split('.')[0]}' "
                             rf"\(did you mean '{suggestion}'\?\)"):
        _check({key: 1})


def _leaf(tmp_path, body: str) -> Config:
    path = tmp_path / 'leaf.py'
    path.write_text(f'_base_ = {RECIPE!r}\n{body}\n')
    return Config.fromfile(str(path))


def test_unknown_key_in_the_config_file_is_refused(tmp_path):
    with pytest.raises(ConfigCheckError, match=r"'randomnes' \(did you mean 'randomness'\?\)"):
        check_config(_leaf(tmp_path, 'randomnes = dict(seed=1)'))


def test_conventional_and_underscore_variables_are_allowed(tmp_path):
    cfg = _leaf(tmp_path, "data_root = 'elsewhere/'\n_size = 24\n"
                          'train_dataloader = dict(batch_size=_size)')
    assert keys_set_by_file(cfg.filename) == {'data_root', '_size', 'train_dataloader'}
    check_config(cfg)


def test_inherited_library_variables_are_trusted(tmp_path):
    """Variables of a ``_base_`` file (like those of mmdet's configs) are not the user's."""
    base = tmp_path / 'base.py'
    base.write_text(f"_base_ = {RECIPE!r}\nlibrary_helper = 3\n")
    leaf = tmp_path / 'leaf.py'
    leaf.write_text("_base_ = './base.py'\nresume = False\n")
    check_config(Config.fromfile(str(leaf)))


@pytest.mark.parametrize('key, message', [
    ('default_hooks.checkpoint.intervl',
     r"default_hooks\.checkpoint\.intervl: .*CheckpointHook has no argument 'intervl' "
     r"\(did you mean 'interval'\?\)"),
    ('default_hooks.logger.intervall', r"LoggerHook has no argument 'intervall'"),
    ('default_hooks.checkpiont.interval',
     r"default_hooks\.checkpiont has no type \(did you mean 'checkpoint'\?\)"),
    ('default_hooks.timer.type', r"default_hooks\.timer\.type must be a hook class name, "
                                 'got 1'),
])
def test_hook_argument_typos_fail_at_start_up(key, message):
    with pytest.raises(ConfigCheckError, match=message):
        _check({key: 1})


def test_unregistered_hook_type_suggests_a_registered_one():
    with pytest.raises(ConfigCheckError,
                       match=r"custom_hooks\.1\.type='RankMeHok' is not a registered hook "
                             r"\(did you mean 'RankMeHook'\?\)"):
        _check({'custom_hooks': [dict(type='RankMeHook'), dict(type='RankMeHok')]})
    with pytest.raises(ConfigCheckError,
                       match=r"custom_hooks\.0\.intervall: RankMeHook has no argument "
                             r"'intervall' \(did you mean 'interval'\?\)"):
        _check({'custom_hooks': [dict(type='RankMeHook', intervall=5)]})


@pytest.mark.parametrize('options, message', [
    ({'custom_hooks': [dict(type='MomentumUpdateHook')]},
     r'custom_hooks lists MomentumUpdateHook, which is a default hook .* twice'),
    ({'default_hooks.momentum': None},
     r'default_hooks\.momentum is None: MoCo has a momentum \(key\) encoder'),
    ({'train_cfg.type': 'EpochBasedTrainLoop'},
     r"train_cfg: mmengine's EpochBasedTrainLoop replays .*ExactResumeEpochBasedTrainLoop"),
    ({'default_hooks.checkpoint.type': 'CheckpointHook'},
     r"default_hooks\.checkpoint: mmengine's CheckpointHook deletes the oldest checkpoint"),
])
def test_unsafe_or_missing_training_hooks_and_loops_are_refused(options, message):
    with pytest.raises(ConfigCheckError, match=message):
        _check(options)


def test_a_run_without_random_state_hook_is_warned(warnings_logged):
    _check({'default_hooks.random_state': None})
    _check({})
    assert sum('no RandomStateHook' in message for message in warnings_logged) == 1


def test_checkpoint_hook_kwargs_end_at_its_own_arguments():
    """CheckpointHook takes **kwargs but passes them to Runner.save_checkpoint, which takes
    none beyond what the hook already sets: its arguments are its own."""
    from mmengine.hooks import CheckpointHook, Hook
    accepted = hook_arguments(CheckpointHook)
    assert {'interval', 'max_keep_ckpts', 'by_epoch'} <= accepted
    assert 'intervl' not in accepted

    class Passing(CheckpointHook):
        def __init__(self, fsync: bool = True, **kwargs):
            super().__init__(**kwargs)

    assert hook_arguments(Passing) == accepted | {'fsync'}

    class Open(Hook):
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    assert hook_arguments(Open) is None


@pytest.mark.parametrize('key, value, message', [
    ('optim_wrapper.optimizer.lr', float('inf'), r'optim_wrapper\.optimizer\.lr=inf must be '
                                                 'finite'),
    ('optim_wrapper.optimizer.lr', float('nan'), r'optim_wrapper\.optimizer\.lr=nan must be '
                                                 'finite'),
    ('optim_wrapper.optimizer.lr', 0.0, r'lr=0\.0 must lie in \(0, inf\)'),
    ('optim_wrapper.optimizer.lr', -0.1, r'lr=-0\.1 must lie in \(0, inf\)'),
    ('optim_wrapper.optimizer.lr', 'fast', r"lr='fast' must be a number"),
    ('optim_wrapper.optimizer.weight_decay', -1e-4, r'weight_decay=-0\.0001 must lie in '
                                                    r'\[0, inf\)'),
    ('optim_wrapper.optimizer.weight_decay', float('nan'), 'weight_decay=nan must be finite'),
    ('optim_wrapper.optimizer.momentum', 1.5, r'momentum=1\.5 must lie in \[0, 1\]'),
    ('optim_wrapper.optimizer.momentum', float('-inf'), 'momentum=-inf must be finite'),
    ('optim_wrapper.clip_grad', dict(max_norm=float('inf')),
     r'optim_wrapper\.clip_grad\.max_norm=inf must be finite'),
    ('param_scheduler.0.eta_min', float('nan'), r'param_scheduler\.0\.eta_min=nan must be '
                                                'finite'),
    ('param_scheduler.0.eta_min', -1.0, r'param_scheduler\.0\.eta_min=-1\.0 must lie in'),
])
def test_optimizer_hyper_parameters_are_validated(key, value, message):
    with pytest.raises(ConfigCheckError, match=message):
        _check({key: value})


def test_adam_betas_and_eps():
    cfg = _recipe()
    cfg.optim_wrapper.optimizer = dict(type='AdamW', lr=1e-3, betas=(0.9, 1.0), eps=1e-8)
    with pytest.raises(ConfigCheckError, match=r'optimizer\.betas\.1=1\.0 must lie in \[0, 1\)'):
        check_config(cfg)
    cfg.optim_wrapper.optimizer = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), eps=0.0)
    with pytest.raises(ConfigCheckError, match=r'optimizer\.eps=0\.0 must lie in \(0, inf\)'):
        check_config(cfg)


def test_large_but_finite_lr_warns_only(warnings_logged):
    _check({'optim_wrapper.optimizer.lr': 1e6})
    records = warnings_logged
    assert any('optim_wrapper.optimizer.lr=1e+06 is unusually large' in message
               for message in records), records


def _train(*options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/train.py', RECIPE, '--work-dir',
                           osp.join('/nonexistent', 'never-created'), *options],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_train_stops_at_start_up_with_one_line_naming_the_key():
    """No runner is built (the work dir is never created, no data is read)."""
    result = _train('--cfg-options', 'default_hooks.checkpoint.intervl=5',
                    'optim_wrapper.optimizer.lr=inf')
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(RECIPE) and "default_hooks.checkpoint.intervl" in last, last


@pytest.mark.parametrize('pair, message', [
    ('train_dataloader.batch_size', "'train_dataloader.batch_size' has no '=' (expected "
                                    'KEY=VALUE, e.g. train_dataloader.batch_size=VALUE)'),
    ('=64', "'=64' has no key (expected KEY=VALUE)"),
])
def test_cfg_options_without_equals_is_a_usage_error(pair, message, capsys):
    """The parser of tools/train.py (and the transfer wrappers) reports one line, no
    traceback."""
    parser = argparse.ArgumentParser(prog='train.py')
    add_runner_arguments(parser)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(['--cfg-options', 'model.queue.queue_len=16', pair])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f'train.py: error: --cfg-options: {message}'
