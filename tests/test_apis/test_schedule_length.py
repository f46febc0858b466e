"""Issue 17, item 3: a ``train_cfg.max_epochs`` given on the command line carries the schedules
that end with the config's own ``max_epochs``.

Before the fix ``train_cfg.max_epochs=83`` on the 80-epoch recipe kept the cosine's ``T_max``
and ``end`` at 80: the learning rate sat at its minimum from epoch 80 on.
"""
import argparse
import os.path as osp

from mmengine.config import Config

from conftest import ROOT
from mmmoco.apis.cli import add_runner_arguments, apply_runner_arguments

RECIPE = osp.join(ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py')
MOCOV3 = osp.join(ROOT, 'configs', 'mocov3_r50_8xb512-amp-coslr-100e_in1k.py')
STEPS = osp.join(ROOT, 'configs', '_base_', 'schedules', 'sgd_steplr_200e.py')


def _configured(config: str, *options: str) -> Config:
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    add_runner_arguments(parser)
    args = parser.parse_args([config, '--cfg-options', *options])
    return apply_runner_arguments(Config.fromfile(config), args)


def test_cosine_follows_a_longer_or_shorter_max_epochs():
    for epochs in (83, 40):
        cosine = _configured(RECIPE, f'train_cfg.max_epochs={epochs}').param_scheduler[0]
        assert (cosine.T_max, cosine.end) == (epochs, epochs)
    unchanged = _configured(RECIPE, 'train_cfg.max_epochs=80').param_scheduler[0]
    assert (unchanged.T_max, unchanged.end) == (80, 80)


def test_warmup_stays_and_the_cosine_after_it_is_rescaled():
    warmup, cosine = _configured(MOCOV3, 'train_cfg.max_epochs=150').param_scheduler
    assert (warmup.begin, warmup.end) == (0, 10)
    assert (cosine.begin, cosine.end, cosine.T_max) == (10, 150, 140)


def test_a_run_shorter_than_the_warmup_leaves_the_later_cosine_alone():
    # before: the cosine after the 10-epoch warm-up got end=5 and T_max=-5, and building the
    # scheduler failed ('end should be larger than begin')
    warmup, cosine = _configured(MOCOV3, 'train_cfg.max_epochs=5').param_scheduler
    assert (warmup.begin, warmup.end) == (0, 10)
    assert (cosine.begin, cosine.end, cosine.T_max) == (10, 100, 90)


def test_keys_given_on_the_command_line_are_left_alone():
    cosine = _configured(RECIPE, 'train_cfg.max_epochs=600', 'param_scheduler.0.T_max=300'
                         ).param_scheduler[0]
    assert (cosine.T_max, cosine.end) == (300, 600)


def test_milestones_are_not_rescaled_and_a_warning_says_so(warnings_logged):
    steps = _configured(STEPS, 'train_cfg.max_epochs=100').param_scheduler[0]
    assert list(steps.milestones) == [120, 160]
    assert any('train_cfg.max_epochs=100 (the config says 200): param_scheduler.0.milestones='
               '[120, 160] are not rescaled' in message for message in warnings_logged)
