"""Necks that project backbone features to contrastive embeddings."""
from .projection import LinearNeck, MLPNeck

__all__ = ['LinearNeck', 'MLPNeck']
