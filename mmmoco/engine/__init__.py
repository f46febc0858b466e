"""Training engine: runner, hooks, optimizers and visualization (experiment tracker) backends."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import MoCoRunner
from .visualization import *  # noqa: F401,F403

__all__ = ['MoCoRunner']
