"""Backbones: feature extractors that map images to multi-stage feature maps."""
from .resnet import ResNet

__all__ = ['ResNet']
