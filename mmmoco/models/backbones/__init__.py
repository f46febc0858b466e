"""Backbones: feature extractors that map images to feature maps or class tokens."""
from .raw_pixels import RawPixels
from .resnet import ResNet
from .vit import VisionTransformer

__all__ = ['RawPixels', 'ResNet', 'VisionTransformer']
