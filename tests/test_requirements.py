"""requirements/: ranges per purpose (what ``pip install mmmoco`` asks for), and one exact pin
per package in constraints.txt, the lock that tools/install/setup_env.sh installs under."""
import importlib.metadata
import os.path as osp
import re
from typing import Dict, List

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

REQUIREMENTS = osp.join(ROOT, 'requirements')
RANGED = ('runtime.txt', 'optional.txt', 'trackers.txt', 'mminstall.txt', 'tests.txt')


def read(name: str) -> List[Requirement]:
    """The requirements of requirements/<name>, comments left out."""
    with open(osp.join(REQUIREMENTS, name), encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [Requirement(line) for line in lines if line]


def pins() -> Dict[str, Version]:
    """The lock: package (canonical name) -> its exact version."""
    locked = {}
    for requirement in read('constraints.txt'):
        [spec] = requirement.specifier
        assert spec.operator == '==', f'constraints.txt: {requirement} is not an exact pin'
        locked[canonicalize_name(requirement.name)] = Version(spec.version)
    return locked


@pytest.mark.parametrize('name', RANGED)
def test_every_requirement_has_a_pin_inside_its_range(name):
    locked = pins()
    for requirement in read(name):
        key = canonicalize_name(requirement.name)
        assert key in locked, f'{name}: {requirement.name} has no pin in constraints.txt'
        assert requirement.specifier.contains(locked[key], prereleases=True), (
            f'{name}: {requirement} excludes the locked {requirement.name}=={locked[key]}')


def test_runtime_requirements_are_ranges():
    """A pin would make ``pip install mmmoco`` replace the torch of the user's environment."""
    for requirement in read('runtime.txt'):
        assert not [spec for spec in requirement.specifier if spec.operator in ('==', '===')], (
            f'runtime.txt pins {requirement}; pin it in constraints.txt instead')


def test_the_lock_is_what_this_environment_runs():
    """The tests run against the locked versions (those of the lock that are installed here:
    ``setup_env.sh --core`` leaves out mmcv, mmdet, mmseg and the test tools)."""
    drifted = []
    for name, version in pins().items():
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
        if installed != version:
            drifted.append(f'{name} {installed} (locked {version})')
    assert drifted == [], 'update requirements/constraints.txt or the environment'


def test_setup_env_installs_under_the_lock():
    with open(osp.join(ROOT, 'tools', 'install', 'setup_env.sh'), encoding='utf-8') as f:
        script = f.read()
    assert 'constraints="$root/requirements/constraints.txt"' in script
    [pip] = re.findall(r'^pip=\((.*)\)$', script, re.M)
    assert pip.endswith('-c "$constraints"')
    assert not re.search(r'\b(torch|mmengine|mmcv|mmdet|mmsegmentation)==', script)
