"""Old config names kept as thin aliases of their renamed configs.

An alias file inherits the renamed config and sets one marker key, e.g.::

    _base_ = './mocov2_r50_8xb32-coslr-200e_in1k.py'
    renamed_to = 'configs/mocov2_r50_8xb32-coslr-200e_in1k.py'

:func:`load_config` loads it as its target (the marker removed) and logs one warning naming the
new file; :func:`alias_target` tells an alias from a config without loading it, so that the
config listings leave aliases out.
"""
import ast
import logging
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

#: The top-level key that marks a config file as an alias; its value is the new config's path.
RENAMED_KEY = 'renamed_to'


def alias_target(filename: str) -> Optional[str]:
    """The config an alias file points to, read from its source (nothing is loaded).

    Args:
        filename: A ``.py`` config file.

    Returns:
        The value of its ``renamed_to`` assignment, or None if it sets none.

    Raises:
        ValueError: If ``renamed_to`` is assigned something other than a string (names the file).
    """
    with open(filename, encoding='utf-8') as file:
        tree = ast.parse(file.read(), filename)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == RENAMED_KEY
                for target in node.targets):
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise ValueError(f'{filename}: {RENAMED_KEY} must be the new config path as a '
                                 'string literal')
            return node.value.value
    return None


def load_config(filename: str) -> Config:
    """Load a config file; an alias loads as its target and logs "config X was renamed to Y".

    Args:
        filename: The config file.

    Returns:
        The config, without the ``renamed_to`` marker.
    """
    cfg = Config.fromfile(filename)
    new_name = cfg.pop(RENAMED_KEY, None)
    if new_name is not None:
        print_log(f'config {filename} was renamed to {new_name}', logger='current',
                  level=logging.WARNING)
    return cfg
