"""mmmoco: config-driven MoCo self-supervised pretraining in the OpenMMLab style."""
from .version import __version__

__all__ = ['__version__']
