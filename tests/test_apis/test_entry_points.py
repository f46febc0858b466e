"""The ``mmmoco`` command (mmmoco.apis.entry_points) and the shipped configs and tools it
finds (mmmoco.apis.shipped), run from the checkout; tests/integration/test_packaging.py runs
it from an installed wheel."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT
from mmmoco.apis import entry_points, shipped
from mmmoco.utils import load_checkpoint_file
from tiny_run import tiny_cfg_options, tiny_images  # noqa: F401

RECIPE = 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist'


@pytest.fixture
def config_tree(tmp_path, monkeypatch) -> str:
    """A shipped-configs folder with a fragment, two configs of one file name, and tools."""
    root = tmp_path / 'configs'
    for name in ('_base_/models/r50.py', 'mocov2.py', 'benchmarks/knn/r50_knn.py',
                 'benchmarks/linear/r50_knn.py'):
        os.makedirs(osp.dirname(root / name), exist_ok=True)
        (root / name).write_text('x = 1\n')
    os.makedirs(tmp_path / 'tools')
    monkeypatch.setattr(shipped, 'config_root', lambda: str(root))
    return str(root)


def test_the_checkout_ships_its_configs_and_tools():
    assert osp.samefile(shipped.tools_root(), osp.join(ROOT, 'tools'))
    names = shipped.list_configs()
    assert RECIPE in names and 'benchmarks/knn/resnet50_knn_imagenet' in names
    assert not [name for name in names if '_base_' in name]
    assert shipped.list_configs('benchmarks/knn/*') == [n for n in names
                                                        if n.startswith('benchmarks/knn/')]


def test_config_names_resolve_to_files(config_tree):
    assert shipped.list_configs() == ['benchmarks/knn/r50_knn', 'benchmarks/linear/r50_knn',
                                      'mocov2']
    for name in ('mocov2', 'mocov2.py', 'configs/mocov2.py'):
        assert shipped.resolve_config(name) == osp.join(config_tree, 'mocov2.py')
    assert shipped.resolve_config('benchmarks/knn/r50_knn') == osp.join(
        config_tree, 'benchmarks', 'knn', 'r50_knn.py')
    with pytest.raises(ValueError, match='several shipped configs: benchmarks/knn/r50_knn, '
                                         'benchmarks/linear/r50_knn; give the full name'):
        shipped.resolve_config('r50_knn')
    with pytest.raises(FileNotFoundError, match=r"'mocov3' is neither a config file nor the "
                                                r'name of a shipped config \(closest: mocov2\)'):
        shipped.resolve_config('mocov3')
    with pytest.raises(FileNotFoundError, match='nor the name of a shipped config;'):
        shipped.resolve_config('_base_/models/r50')


def test_an_existing_file_is_taken_as_it_is(tmp_path):
    config = tmp_path / 'mine.py'
    config.write_text('x = 1\n')
    assert shipped.resolve_config(str(config)) == str(config)


def test_missing_tools_folder_is_named(config_tree, tmp_path):
    os.rmdir(tmp_path / 'tools')
    with pytest.raises(FileNotFoundError, match=f'{tmp_path / "tools"} is missing'):
        shipped.tools_root()
    with pytest.raises(SystemExit, match=f'mmmoco train: no tools folder next to the configs: '
                                         f'{tmp_path / "tools"} is missing'):
        entry_points.main(['train', 'mocov2'])


def test_list_prints_names_and_refuses_a_pattern_without_match(capsys):
    assert entry_points.main(['list', '*knn-monitor']) == 0
    assert capsys.readouterr().out.split() == [
        'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_knn-monitor',
        'mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist_knn-monitor']
    with pytest.raises(SystemExit, match="mmmoco list: no shipped config matches 'nothing'"):
        entry_points.main(['list', 'nothing'])


def test_unknown_config_stops_with_one_line():
    with pytest.raises(SystemExit) as stopped:
        entry_points.main(['train', 'mocov2_r50_8xb3'])
    assert stopped.value.code.startswith("mmmoco train: 'mocov2_r50_8xb3' is neither a config "
                                         'file nor the name of a shipped config (closest: '
                                         'mocov2_r50_8xb32-coslr-200e_in1k')


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        entry_points.main(['pretrain', RECIPE])
    assert "invalid choice: 'pretrain'" in capsys.readouterr().err


def test_train_a_shipped_config_by_name(tiny_images, tmp_path, monkeypatch):
    """``mmmoco train NAME``: tools/train.py in this process, one epoch, a checkpoint."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', sys.argv[:1])
    assert entry_points.main(['train', RECIPE, '--work-dir', 'work',
                              *tiny_cfg_options(tiny_images)]) == 0
    state = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_1.pth'))
    assert state['meta']['epoch'] == 1 and 'queue' in ' '.join(state['state_dict'])


def test_dist_train_runs_the_shell_tool_with_this_interpreter(tiny_images, tmp_path):
    """``mmmoco dist-train NAME 1``: tools/dist_train.sh under bash with PYTHON set to the
    interpreter mmmoco runs in; without it the shell tools would take python3 from PATH (no
    virtualenv to find: MMMOCO_VENV names none), which has no torch."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('PYTHON', 'PYTHONPATH', 'VIRTUAL_ENV')}
    env.update(PATH='/usr/bin:/bin', OMP_NUM_THREADS='1', MMMOCO_VENV=str(tmp_path / 'none'))
    result = subprocess.run(
        [sys.executable, '-m', 'mmmoco.apis.entry_points', 'dist-train', RECIPE, '1',
         '--work-dir', 'work', *tiny_cfg_options(tiny_images)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
