"""The configs and tools that come with mmmoco, for the ``mmmoco`` command.

An installed package carries them in ``mmmoco/.mim/{configs,tools}`` (setup.py copies them
there when it builds); a checkout (or an editable install) has them beside ``mmmoco/``. Both
are found through :func:`~mmmoco.apis.model_zoo.config_root`: ``tools/`` is the sibling of the
configs folder in either layout.
"""
import difflib
import fnmatch
import glob
import os.path as osp
from typing import Dict, List

from .config_aliases import alias_target
from .model_zoo import config_root

#: Folder name of config fragments (inherited through ``_base_``, not run on their own).
BASE_FOLDER = '_base_'


def tools_root() -> str:
    """The folder of the shipped tools (``train.py``, ``dist_train.sh``, ``benchmarks/``...).

    Returns:
        ``mmmoco/.mim/tools`` in an installed package, the checkout's ``tools/`` otherwise.

    Raises:
        FileNotFoundError: If the configs folder has no ``tools`` sibling (names the folder).
    """
    root = osp.join(osp.dirname(config_root()), 'tools')
    if not osp.isdir(root):
        raise FileNotFoundError(f'no tools folder next to the configs: {root} is missing; '
                                'reinstall mmmoco')
    return root


def shipped_configs(aliases: bool = False) -> Dict[str, str]:
    """Every runnable shipped config by name (``_base_`` fragments left out).

    Args:
        aliases: Also include the old names kept as aliases of renamed configs (see
            :mod:`~mmmoco.apis.config_aliases`); listings leave them out, name lookups use them.

    Returns:
        ``{name: path}`` sorted by name; a name is the path relative to the configs folder
        without ``.py``, e.g. ``'mocov2_r50_8xb32-coslr-200e_in1k'``,
        ``'benchmarks/knn/resnet50_knn_imagenet'``.
    """
    root = config_root()
    configs = {}
    for path in sorted(glob.glob(osp.join(root, '**', '*.py'), recursive=True)):
        name = osp.relpath(path, root)[:-len('.py')]
        if BASE_FOLDER not in name.split(osp.sep) and (aliases or alias_target(path) is None):
            configs[name.replace(osp.sep, '/')] = path
    return configs


def list_configs(pattern: str = '*') -> List[str]:
    """The names of the shipped configs that match a shell-style pattern.

    Args:
        pattern: E.g. ``'*fashionmnist*'`` or ``'benchmarks/knn/*'``.

    Returns:
        The sorted names.
    """
    return [name for name in shipped_configs() if fnmatch.fnmatch(name, pattern)]


def resolve_config(config: str) -> str:
    """The file of a config given as a path or as a shipped config's name.

    A name is a key of :func:`shipped_configs` or an old name kept as an alias (``.py`` and a
    leading ``configs/`` optional), or the file name alone when only one shipped config has it
    (``resnet50_knn_imagenet``). An alias resolves to its own file, which loads as the renamed
    config and logs the new name (:func:`~mmmoco.apis.config_aliases.load_config`).

    Args:
        config: An existing file, or a name.

    Returns:
        The path of the config file.

    Raises:
        FileNotFoundError: If it is neither a file nor a name; suggests the closest names.
        ValueError: If a file name alone matches several shipped configs (lists them).
    """
    if osp.isfile(config):
        return config
    name = config[:-len('.py')] if config.endswith('.py') else config
    name = name[len('configs/'):] if name.startswith('configs/') else name
    configs = shipped_configs(aliases=True)
    if name in configs:
        return configs[name]
    same_file_name = [known for known in configs if known.rsplit('/', 1)[-1] == name]
    if len(same_file_name) == 1:
        return configs[same_file_name[0]]
    if same_file_name:
        raise ValueError(f'{config!r} names several shipped configs: '
                         f'{", ".join(same_file_name)}; give the full name')
    close = difflib.get_close_matches(name, shipped_configs(), n=3, cutoff=0.6)
    hint = f' (closest: {", ".join(close)})' if close else ''
    raise FileNotFoundError(f'{config!r} is neither a config file nor the name of a shipped '
                            f'config{hint}; `mmmoco list` shows the names')
