"""Heads that turn embeddings into losses."""
from .contrastive_head import ContrastiveHead

__all__ = ['ContrastiveHead']
