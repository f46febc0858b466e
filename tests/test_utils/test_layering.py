"""Imports flow one way: tools -> apis -> engine -> evaluation -> models | datasets ->
structures | registry | ops -> utils. A module may import its own package and any lower layer,
never a higher one, and models and datasets never import each other. Every module of mmmoco
is checked, lazy in-function imports included."""
import ast
import pathlib
from typing import Iterator, List

import pytest

import mmmoco

PACKAGE = pathlib.Path(mmmoco.__file__).parent

#: Layer of each top-level part of mmmoco: higher layers may import lower ones only.
LAYERS = {
    'apis': 5,
    'engine': 4,
    'evaluation': 3,
    'models': 2,
    'datasets': 2,
    'structures': 1,
    'registry': 1,
    'ops': 1,
    'utils': 0,
    'version': 0,
}


def _imported_modules(path: pathlib.Path) -> Iterator[str]:
    """Every module name imported anywhere in a file (including lazy, in-function imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                package = path.relative_to(PACKAGE.parent).with_suffix('').parts[:-node.level]
                yield '.'.join(package + ((node.module,) if node.module else ()))
            else:
                yield node.module


def _part(module: str) -> str:
    """The top-level part of mmmoco a dotted module name belongs to ('' for mmmoco itself)."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def layer_violations(path: pathlib.Path) -> List[str]:
    """The imports of one file of mmmoco that go up (or sideways between peers).

    Args:
        path: A ``.py`` file inside the mmmoco package.

    Returns:
        One line per offending import.
    """
    relative = path.relative_to(PACKAGE.parent).with_suffix('')
    own = relative.parts[1] if len(relative.parts) > 1 else ''
    if own == '__init__':  # mmmoco/__init__.py: the package's face, only the version
        own = 'version'
    offenders = []
    for name in _imported_modules(path):
        if name != 'mmmoco' and not name.startswith('mmmoco.'):
            continue
        target = _part(name)
        if target == own:
            continue
        if target not in LAYERS or LAYERS[target] >= LAYERS[own]:
            offenders.append(f'{relative}.py (layer {own}) imports {name}')
    return offenders


def test_every_module_imports_only_lower_layers():
    files = sorted(PACKAGE.rglob('*.py'))
    assert len(files) > 50
    unknown = {_part('.'.join(f.relative_to(PACKAGE.parent).with_suffix('').parts))
               for f in files} - set(LAYERS) - {'__init__'}
    assert not unknown, f'parts of mmmoco without a layer: {unknown}'
    offenders = [line for path in files for line in layer_violations(path)]
    assert not offenders, '\n'.join(offenders)


@pytest.mark.parametrize('where, source, expected', [
    ('utils', 'def f():\n    from mmmoco.models import MoCo\n', 'imports mmmoco.models'),
    ('models', 'from mmmoco.apis import register_all_modules\n', 'imports mmmoco.apis'),
    ('models', 'from mmmoco.datasets.transforms import MultiView\n', 'imports mmmoco.datasets'),
    ('evaluation', 'import mmmoco.engine.hooks\n', 'imports mmmoco.engine.hooks'),
])
def test_the_check_sees_an_upward_or_sideways_import(where, source, expected):
    """The checker is able to fail: a probe module importing a higher layer or a peer."""
    probe = PACKAGE / where / '_layering_probe.py'
    probe.write_text(source)
    try:
        offenders = layer_violations(probe)
    finally:
        probe.unlink()
    assert len(offenders) == 1 and expected in offenders[0], offenders


def test_a_downward_import_is_allowed():
    probe = PACKAGE / 'engine' / '_layering_probe.py'
    probe.write_text('from mmmoco.evaluation.knn import topk_accuracy\nfrom ..utils import x\n')
    try:
        assert layer_violations(probe) == []
    finally:
        probe.unlink()
