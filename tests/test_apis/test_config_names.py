"""Config names: the renamed pretraining configs, their old names kept as aliases, and the one
work-dir rule (``work_dirs/<config name>``) of every tool."""
import argparse
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import ROOT
from mmmoco.apis.cli import apply_runner_arguments
from mmmoco.apis.config_aliases import RENAMED_KEY, alias_target, load_config
from mmmoco.apis.config_checks import check_top_level_keys
from mmmoco.apis.inference import list_models
from mmmoco.apis.shipped import list_configs, resolve_config

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
from knn_eval import result_path  # noqa: E402

#: Old name -> new name of the renamed configs.
RENAMED = {
    'mocov1_r50_8xb32': 'mocov1_r50_8xb32-steplr-200e_in1k',
    'mocov2_r50_8xb32': 'mocov2_r50_8xb32-coslr-200e_in1k',
    'mocov2_r50_8xb32_batchaug': 'mocov2_r50_8xb32-coslr-200e_in1k_batchaug',
}

#: The naming scheme of the top-level pretraining configs.
SCHEME = re.compile(r'^mocov[123]_[a-z0-9-]+_\d+xb\d+(-amp)?(-[a-z0-9-]+)?-(coslr|steplr)'
                    r'-\d+e_[a-z0-9]+(-[a-z0-9]+)*(_[a-z0-9-]+)?\.py$')


def _config(name: str) -> str:
    return osp.join(ROOT, 'configs', f'{name}.py')


def test_every_top_level_config_follows_the_scheme_or_is_an_alias():
    aliases = {}
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '*.py'))):
        target = alias_target(path)
        if target is None:
            assert SCHEME.match(osp.basename(path)), path
        else:
            aliases[osp.basename(path)[:-len('.py')]] = target
    assert aliases == {old: f'configs/{new}.py' for old, new in RENAMED.items()}


@pytest.mark.parametrize('old', sorted(RENAMED))
def test_alias_loads_as_its_target_and_is_not_listed(old):
    new = RENAMED[old]
    alias = Config.fromfile(_config(old)).to_dict()
    assert alias.pop(RENAMED_KEY) == f'configs/{new}.py'
    assert alias == Config.fromfile(_config(new)).to_dict()
    loaded = load_config(_config(old))
    assert RENAMED_KEY not in loaded
    check_top_level_keys(loaded)
    assert new in list_models() and old not in list_models() and old not in list_configs()
    for given in (old, f'configs/{old}.py', f'{old}.py'):
        assert osp.samefile(resolve_config(given), _config(old))


def test_alias_marker_must_be_a_string(tmp_path):
    path = tmp_path / 'bad_alias.py'
    path.write_text(f"_base_ = '{_config(RENAMED['mocov2_r50_8xb32'])}'\n{RENAMED_KEY} = 3\n")
    with pytest.raises(ValueError, match=f'bad_alias.py: {RENAMED_KEY} must be'):
        alias_target(str(path))


def test_train_prints_the_new_name_once():
    # a misspelled key stops the run right after the config is loaded: no model is built
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/mocov2_r50_8xb32.py', '--work-dir',
         'unused', '--cfg-options', 'train_cfg.max_epoch=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    line = ('config configs/mocov2_r50_8xb32.py was renamed to '
            'configs/mocov2_r50_8xb32-coslr-200e_in1k.py')
    assert output.count(line) == 1, output[-3000:]
    assert 'WARNING' in next(text for text in output.splitlines() if line in text)
    assert result.returncode != 0 and "'max_epoch'" in output
    assert not osp.exists(osp.join(ROOT, 'unused'))


@pytest.mark.parametrize('config', [
    'configs/mocov2_r50_8xb32-coslr-200e_in1k.py',
    'configs/benchmarks/linear_eval/resnet50_linear-8xb32-steplr-100e_imagenet.py',
])
def test_training_tools_default_to_work_dirs_config_name(config):
    args = argparse.Namespace(config=config, cfg_options=None, work_dir=None, amp=False,
                              verbose=False, resume=None, launcher='none')
    name = osp.splitext(osp.basename(config))[0]
    assert apply_runner_arguments(Config(), args).work_dir == f'./work_dirs/{name}'
    args.work_dir = 'elsewhere'
    assert apply_runner_arguments(Config(), args).work_dir == 'elsewhere'


def test_knn_results_default_to_work_dirs_config_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(config='configs/benchmarks/knn/resnet50_knn_imagenet.py',
                              work_dir=None, force=False)
    assert osp.normpath(result_path(args)) == osp.join(
        'work_dirs', 'resnet50_knn_imagenet', 'knn_results.json')


def test_linear_eval_script_leaves_the_work_dir_to_the_rule():
    with open(osp.join(ROOT, 'tools', 'benchmarks', 'linear_eval.sh'), encoding='utf-8') as f:
        script = f.read()
    assert '--work-dir' not in script.split('set -euo pipefail', 1)[1]
