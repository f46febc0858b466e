"""Heads that turn embeddings into losses."""
from .contrastive_head import MoCoQueueHead

__all__ = ['MoCoQueueHead']
