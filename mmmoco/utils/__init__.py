"""Leaf utilities (import nothing else of mmmoco): distributed helpers, safe checkpoint loading,
dataloader config fixes."""
from .checkpoint import allow_mmengine_checkpoints, load_checkpoint_file
from .dataloader import without_idle_persistent_workers

__all__ = ['allow_mmengine_checkpoints', 'load_checkpoint_file', 'without_idle_persistent_workers']
