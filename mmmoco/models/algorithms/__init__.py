"""Algorithms: MoCo pretraining and the classifier used to evaluate it."""
from .classifier import ImageClassifier
from .moco import MoCo

__all__ = ['ImageClassifier', 'MoCo']
