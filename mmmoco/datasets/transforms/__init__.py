"""Data transforms of mmmoco, registered in ``mmmoco.registry.TRANSFORMS``."""
from .base import BaseTransform
from .builder import build_transforms
from .formatting import PackInputs
from .geometric import CenterCrop, RandomFlip, RandomResizedCrop, Resize
from .loading import ImageDecodeError, LoadImageFromFile
from .multiview import MultiView
from .photometric import ColorJitter, GaussianBlur, RandomGrayscale, Solarize

__all__ = [
    'BaseTransform', 'build_transforms', 'CenterCrop', 'ColorJitter', 'GaussianBlur',
    'ImageDecodeError', 'LoadImageFromFile', 'MultiView', 'PackInputs', 'RandomFlip',
    'RandomGrayscale', 'RandomResizedCrop', 'Resize', 'Solarize',
]
