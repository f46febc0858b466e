"""Leaf utilities (import nothing else of mmmoco): distributed helpers, safe checkpoint loading."""
from .checkpoint import allow_mmengine_checkpoints, load_checkpoint_file

__all__ = ['allow_mmengine_checkpoints', 'load_checkpoint_file']
