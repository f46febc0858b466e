"""Algorithms: MoCo pretraining and the classifier used to evaluate it."""
from .base_momentum import BaseMomentumModel
from .classifier import ImageClassifier
from .moco import MoCo
from .mocov3 import MoCoV3

__all__ = ['BaseMomentumModel', 'ImageClassifier', 'MoCo', 'MoCoV3']
