"""Visualization backends (experiment trackers) of mmmoco, beside mmengine's."""
from .wandb_backend import WandbCodeRootVisBackend

__all__ = ['WandbCodeRootVisBackend']
