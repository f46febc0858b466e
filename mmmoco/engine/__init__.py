"""Training engine: runner and hooks."""
from .hooks import *  # noqa: F401,F403
from .runner import MoCoRunner

__all__ = ['MoCoRunner']
