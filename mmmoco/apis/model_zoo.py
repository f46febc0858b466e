"""Where the shipped configs are: next to the package first (``mmmoco/.mim/configs``, where an
installed package carries them), then in the repository checkout (``configs/`` beside
``mmmoco/``)."""
import os.path as osp

#: The folder of the mmmoco package.
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Where the shipped configs may be, in the order they are tried.
CONFIG_ROOTS = (osp.join(PACKAGE_DIR, '.mim', 'configs'),
                osp.join(osp.dirname(PACKAGE_DIR), 'configs'))


def config_root() -> str:
    """The folder of the shipped configs.

    Returns:
        The first of :data:`CONFIG_ROOTS` that exists.

    Raises:
        FileNotFoundError: If none does; names the folders looked in.
    """
    for root in CONFIG_ROOTS:
        if osp.isdir(root):
            return root
    raise FileNotFoundError(f'no shipped configs found (looked in {list(CONFIG_ROOTS)}); pass '
                            'the path of a config file instead of a name')
