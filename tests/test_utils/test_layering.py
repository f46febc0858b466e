"""mmmoco/utils is a leaf: it imports nothing else of mmmoco (imports flow tools -> apis ->
engine/evaluation -> models/datasets -> utils)."""
import ast
import pathlib

import mmmoco

PACKAGE = pathlib.Path(mmmoco.__file__).parent


def _imported_modules(path: pathlib.Path):
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


def test_utils_imports_nothing_else_of_mmmoco():
    offenders = []
    for path in sorted((PACKAGE / 'utils').rglob('*.py')):
        for name in _imported_modules(path):
            if name == 'mmmoco' or (name.startswith('mmmoco.')
                                    and not name.startswith('mmmoco.utils')):
                offenders.append(f'{path.relative_to(PACKAGE.parent)} imports {name}')
    assert not offenders, offenders


def test_layer_check_sees_a_violation(tmp_path):
    """The checker is able to fail: a lazy import of another layer is found."""
    fake = PACKAGE / 'utils' / '_layering_probe.py'
    fake.write_text('def f():\n    from mmmoco.models import MoCo\n')
    try:
        names = list(_imported_modules(fake))
    finally:
        fake.unlink()
    assert 'mmmoco.models' in names
