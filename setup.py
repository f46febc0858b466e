"""Installation of mmmoco: ``pip install .`` or ``pip install -e .`` into an environment that
already has torch (the requirements are ranges, requirements/runtime.txt; the exact versions
the tests run against are requirements/constraints.txt, which tools/install/setup_env.sh uses).

A built package (wheel, sdist) carries the checkout's ``configs/`` and ``tools/`` in
``mmmoco/.mim/``, as OpenMMLab's packages do; the ``mmmoco`` command
(:mod:`mmmoco.apis.entry_points`) runs the tools and finds configs by name there. An editable
install reads them from the checkout instead.
"""
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))

#: The checkout's folders that a built package carries in ``mmmoco/.mim/``.
MIM_FOLDERS = ('configs', 'tools')


def read_version() -> str:
    """The version string in mmmoco/version.py."""
    with open(osp.join(HERE, 'mmmoco', 'version.py'), encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def read_requirements(name: str) -> list:
    """Requirement lines of requirements/<name>.txt, without comments."""
    with open(osp.join(HERE, 'requirements', name), encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def one_extra_per_requirement(name: str) -> dict:
    """An extra for each requirement of requirements/<name>.txt, named after its package
    (``wandb>=0.16`` -> ``mmmoco[wandb]``), and one extra ``<name>`` with all of them."""
    requirements = read_requirements(name)
    extras = {re.match(r'[A-Za-z0-9_.-]+', line).group(0).lower(): [line]
              for line in requirements}
    extras[osp.splitext(name)[0]] = requirements
    return extras


class BuildPyWithMim(build_py):
    """``build_py`` that also copies ``configs/`` and ``tools/`` into the built package's
    ``mmmoco/.mim/`` (replacing what an earlier build left there). Editable installs skip the
    copy: they read the checkout's folders."""

    def run(self) -> None:
        """Build the Python modules, then copy the folders."""
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        for folder in MIM_FOLDERS:
            target = osp.join(self.build_lib, 'mmmoco', '.mim', folder)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(osp.join(HERE, folder), target,
                            ignore=shutil.ignore_patterns('__pycache__', '*.py[cod]'))


setup(
    name='mmmoco',
    version=read_version(),
    description='Config-driven MoCo v1/v2/v3 self-supervised pretraining in the OpenMMLab style',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'configs.*', 'tools', 'tools.*', 'tests',
                                    'tests.*')),
    # the C++ sources of mmmoco.ops, compiled on first use (torch.utils.cpp_extension.load)
    package_data={'mmmoco.ops': ['csrc/*.cpp']},
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(
        mm=read_requirements('mminstall.txt'),
        tests=read_requirements('tests.txt'),
        optional=read_requirements('optional.txt'),
        **one_extra_per_requirement('trackers.txt'),
    ),
    entry_points=dict(console_scripts=['mmmoco=mmmoco.apis.entry_points:main']),
    cmdclass=dict(build_py=BuildPyWithMim),
    zip_safe=False,
    license='Apache-2.0',
)
