"""Models: backbones, necks, heads, algorithms and the data preprocessor."""
from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .data_preprocessor import SelfSupDataPreprocessor
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403

__all__ = ['SelfSupDataPreprocessor']
