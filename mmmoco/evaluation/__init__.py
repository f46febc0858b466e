"""Evaluation of frozen representations: feature extraction and weighted kNN."""
from .accuracy import Accuracy
from .features import extract_features
from .knn import knn_class_scores, topk_accuracy
from .pretrained import backbone_state_dict, load_pretrained_backbone

__all__ = ['Accuracy', 'extract_features', 'knn_class_scores', 'topk_accuracy',
           'backbone_state_dict', 'load_pretrained_backbone']
