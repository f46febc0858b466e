"""Utilities: distributed helpers, safe checkpoint loading, registration of all modules."""
from .checkpoint import allow_mmengine_checkpoints, load_checkpoint_file
from .setup_env import register_all_modules

__all__ = ['allow_mmengine_checkpoints', 'load_checkpoint_file', 'register_all_modules']
