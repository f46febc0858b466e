"""Packaging end to end, offline: an sdist of the checkout (MANIFEST.in) built into a wheel,
installed with pip into a fresh virtualenv that already has torch, without pip touching torch;
then, from another folder, the wheel's ``mmmoco`` command pretrains a shipped config by name
for one epoch on the 20 sample images. An editable install (``pip install -e``) finds the
checkout's configs instead.

The fresh virtualenvs see the test interpreter's packages (torch, mmengine, ...) through a
``.pth`` file naming a folder of links to them, mmmoco's own install left out: an environment
with torch and mmmoco's other requirements, but no mmmoco. pip runs offline (``--no-index``)
with ``--no-deps``, and ``pip check`` then confirms that the environment meets every
requirement of mmmoco: pip's resolver would otherwise also re-check the test environment's own
packages, and that environment breaks one requirement unrelated to mmmoco (torch 2.14 asks for
setuptools >= 77; tools/install/setup_env.sh keeps setuptools < 70 for the mmcv build).
"""
import glob
import importlib.metadata
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from typing import Dict, List

import pytest

from conftest import ROOT
from mmmoco.utils import load_checkpoint_file
from mmmoco.version import __version__
from tiny_run import tiny_cfg_options, tiny_images  # noqa: F401

RECIPE = 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist'
#: What an sdist is built from (MANIFEST.in decides what it keeps).
SOURCES = ('setup.py', 'MANIFEST.in', 'README.md', 'requirements', 'mmmoco', 'configs', 'tools')
#: Runtime requirements that must be ranges, never pins (a pin replaces the user's install).
RANGED = ('torch', 'torchvision', 'mmengine', 'timm')


def pip_env() -> Dict[str, str]:
    """The environment of the pip and console-script processes: no pip configuration (no
    index, no find-links), no PYTHONPATH, one thread."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('PIP_') and key not in ('PYTHONPATH', 'PYTHON', 'VIRTUAL_ENV')}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1',
               OMP_NUM_THREADS='1')
    return env


def run(cmd: List[str], cwd: str) -> str:
    """Run a command; fail the test with its output if it fails; return stdout and stderr."""
    result = subprocess.run(cmd, cwd=cwd, env=pip_env(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout + result.stderr


def fresh_venv(folder: str, shared: str) -> str:
    """A new virtualenv whose site-packages also sees the packages linked in ``shared``.

    Args:
        folder: Where the virtualenv goes.
        shared: A folder of links to installed packages (:func:`shared_packages`).

    Returns:
        The virtualenv's interpreter.
    """
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', folder], check=True)
    python = osp.join(folder, 'bin', 'python')
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
                           '["purelib"])'], check=True, capture_output=True, text=True)
    with open(osp.join(site.stdout.strip(), 'shared_packages.pth'), 'w') as f:
        f.write(shared + '\n')
    return python


def distribution(python: str, name: str) -> str:
    """``version location`` of an installed distribution as an interpreter sees it (read from
    its metadata, without importing it)."""
    out = subprocess.run([python, '-c', 'import importlib.metadata as m, sys; '
                          f'd = m.distribution({name!r}); print(d.version, d.locate_file(""))'],
                         env=pip_env(), check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture(scope='module')
def shared_packages(tmp_path_factory) -> str:
    """Links to every package of the test interpreter's site-packages but mmmoco's own
    install (its egg-link / editable hooks / metadata) and the ``.pth`` files."""
    site = sysconfig.get_paths()['purelib']
    shared = tmp_path_factory.mktemp('shared_site_packages')
    for name in os.listdir(site):
        if (name.lower().startswith(('mmmoco', '__editable__')) or name.endswith('.pth')
                or name.endswith('.egg-link')):
            continue
        os.symlink(osp.join(site, name), shared / name)
    return str(shared)


@pytest.fixture(scope='module')
def built(tmp_path_factory) -> Dict[str, str]:
    """An sdist of a copy of the checkout, and the wheel pip builds from it (offline).

    Returns:
        ``source`` (the copy), ``sdist`` and ``wheel`` paths.
    """
    folder = tmp_path_factory.mktemp('build')
    source, dist = folder / 'mmmoco-src', folder / 'dist'
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    for name in SOURCES:
        path = osp.join(ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            os.makedirs(source, exist_ok=True)
            shutil.copy2(path, source / name)
    run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(dist)], cwd=str(source))
    [sdist] = glob.glob(str(dist / '*.tar.gz'))
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-w',
         str(dist), sdist], cwd=str(folder))
    [wheel] = glob.glob(str(dist / '*.whl'))
    return dict(source=str(source), sdist=sdist, wheel=wheel)


@pytest.fixture(scope='module')
def installed(built, shared_packages, tmp_path_factory) -> Dict[str, str]:
    """The wheel installed by pip into a fresh virtualenv that has torch.

    Returns:
        ``python`` (the virtualenv's), ``pip`` and ``check`` (the output of ``pip install``
        and ``pip check``), ``torch_before`` / ``torch_after`` (torch's version and location
        before and after) and ``mmmoco`` (the installed mmmoco's version and location).
    """
    python = fresh_venv(str(tmp_path_factory.mktemp('venv')), shared_packages)
    cwd = str(tmp_path_factory.mktemp('cwd'))
    torch_before = distribution(python, 'torch')
    pip = run([python, '-m', 'pip', 'install', '--no-index', '--no-deps', built['wheel']],
              cwd=cwd)
    check = subprocess.run([python, '-m', 'pip', 'check'], cwd=cwd, env=pip_env(),
                           capture_output=True, text=True, timeout=300)
    return dict(python=python, pip=pip, check=check.stdout + check.stderr,
                torch_before=torch_before, torch_after=distribution(python, 'torch'),
                mmmoco=distribution(python, 'mmmoco'))


def test_wheel_ships_configs_tools_and_the_command(built):
    with zipfile.ZipFile(built['wheel']) as wheel:
        names = set(wheel.namelist())
        [metadata] = [n for n in names if n.endswith('.dist-info/METADATA')]
        [entry_points] = [n for n in names if n.endswith('.dist-info/entry_points.txt')]
        requires = [line.split(':', 1)[1].strip() for line in
                    wheel.read(metadata).decode().splitlines()
                    if line.startswith('Requires-Dist:')]
        commands = wheel.read(entry_points).decode()
    shipped = {name[len('mmmoco/.mim/'):] for name in names if name.startswith('mmmoco/.mim/')}
    for folder in ('configs', 'tools'):
        on_disk = {osp.relpath(path, built['source']) for path in glob.glob(
            osp.join(built['source'], folder, '**', '*.*'), recursive=True)
            if path.endswith(('.py', '.sh')) and '__pycache__' not in path}
        assert on_disk and on_disk <= shipped, sorted(on_disk - shipped)[:5]
    assert not [name for name in names if '__pycache__' in name or name.endswith('.pyc')]
    assert 'mmmoco/ops/csrc/split_batch_norm.cpp' in names  # compiled on first use
    assert 'mmmoco = mmmoco.apis.entry_points:main' in commands
    for name in RANGED:
        [spec] = [r for r in requires if re.match(rf'{name}\b', r) and 'extra' not in r]
        assert '>=' in spec and '==' not in spec, spec
    for extra in ('wandb', 'mlflow'):
        assert any(f'extra == "{extra}"' in r and r.startswith(extra) for r in requires)


def test_pip_keeps_the_installed_torch(installed):
    torch_version = importlib.metadata.version('torch')
    assert installed['torch_after'] == installed['torch_before']
    assert installed['torch_after'].startswith(f'{torch_version} ')
    [done] = [line for line in installed['pip'].splitlines()
              if line.startswith('Successfully installed')]
    assert done == f'Successfully installed mmmoco-{__version__}'
    assert 'Uninstalling' not in installed['pip']
    version, location = installed['mmmoco'].split()
    assert version == __version__ and not location.startswith(ROOT)
    # every requirement of mmmoco is met by what the environment had (e.g. its torch): a pin
    # other than the installed version would read "mmmoco ... has requirement torch==..."
    assert [line for line in installed['check'].splitlines()
            if line.lower().startswith('mmmoco ')] == []


def test_installed_command_pretrains_a_shipped_config(installed, tiny_images, tmp_path):
    """From a folder outside the checkout, as a user of the wheel would: the config by name,
    found in the installed package's ``.mim/configs``."""
    venv_bin = osp.dirname(installed['python'])
    origin = run([installed['python'], '-c', 'import importlib.util; '
                  'print(importlib.util.find_spec("mmmoco").origin)'], cwd=str(tmp_path))
    package = osp.dirname(origin.strip())
    assert package.startswith(osp.dirname(venv_bin))  # the wheel's copy, not the checkout
    assert osp.isfile(osp.join(package, '.mim', 'configs', RECIPE + '.py'))
    out = run([osp.join(venv_bin, 'mmmoco'), 'train', RECIPE, '--work-dir', 'work',
               *tiny_cfg_options(tiny_images)], cwd=str(tmp_path))
    assert 'Epoch(train) [1]' in out
    assert 'could not be built' not in out  # the wheel's native split BN source compiles
    checkpoint = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_1.pth'))
    assert checkpoint['meta']['epoch'] == 1


def test_editable_install_reads_the_checkout(built, shared_packages, tmp_path):
    """``pip install -e`` the PEP 660 way (newer pips have no other; setup_env.sh's pip still
    takes the legacy ``setup.py develop`` route): no ``.mim`` copy, the checkout's folders."""
    python = fresh_venv(str(tmp_path / 'venv'), shared_packages)
    run([python, '-m', 'pip', 'install', '--no-index', '--no-deps', '--no-build-isolation',
         '--use-pep517', '-e', built['source']], cwd=str(tmp_path))
    out = run([python, '-c', 'from mmmoco.apis.shipped import config_root, tools_root; '
               'print(config_root()); print(tools_root())'], cwd=str(tmp_path))
    assert out.split()[-2:] == [osp.join(built['source'], 'configs'),
                                osp.join(built['source'], 'tools')]
    assert osp.isfile(osp.join(tmp_path, 'venv', 'bin', 'mmmoco'))
    assert not osp.exists(osp.join(built['source'], 'mmmoco', '.mim'))
