"""Training engine: runner, hooks and optimizers."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import MoCoRunner

__all__ = ['MoCoRunner']
