"""Runner."""
from .moco_runner import MoCoRunner

__all__ = ['MoCoRunner']
