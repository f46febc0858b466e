"""Evaluation of frozen representations: feature extraction and weighted kNN."""
from .accuracy import Accuracy
from .features import extract_features
from .knn import knn_class_scores, topk_accuracy

__all__ = ['Accuracy', 'extract_features', 'knn_class_scores', 'topk_accuracy']
