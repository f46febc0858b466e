"""Self-supervised algorithms."""
from .moco import MoCo

__all__ = ['MoCo']
