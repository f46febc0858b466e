"""On-device batched augmentation: per-sample random colour, grayscale, blur and solarize
on a whole batch, run by :class:`~mmmoco.models.SelfSupDataPreprocessor`."""
from .transforms import (BatchAugment, BatchColorJitter, BatchGaussianBlur, BatchRandomGrayscale,
                         BatchSolarize)

__all__ = ['BatchAugment', 'BatchColorJitter', 'BatchGaussianBlur', 'BatchRandomGrayscale',
           'BatchSolarize']
