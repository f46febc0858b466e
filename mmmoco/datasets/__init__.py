"""Datasets, transforms and dataloader helpers of mmmoco; importing registers them all."""
from . import transforms
from .image_folder import IMG_EXTENSIONS, ImageFolderDataset, UnlabeledImageFolder, list_images
from .sample_seeds import SampleSeedSampler, SeededIndex, seeded_generators, with_sample_seeds
from .transforms import (BaseTransform, CenterCrop, ColorJitter, GaussianBlur, ImageDecodeError,
                         LoadImageFromFile, MultiView, PackInputs, RandomFlip, RandomGrayscale,
                         RandomResizedCrop, Resize, build_transforms)
from .worker_init import worker_init_from_torch_seed

__all__ = [
    'IMG_EXTENSIONS', 'ImageFolderDataset', 'UnlabeledImageFolder', 'list_images', 'transforms',
    'worker_init_from_torch_seed', 'SampleSeedSampler', 'SeededIndex', 'seeded_generators',
    'with_sample_seeds', 'BaseTransform', 'build_transforms', 'CenterCrop',
    'ColorJitter', 'GaussianBlur', 'ImageDecodeError', 'LoadImageFromFile', 'MultiView',
    'PackInputs', 'RandomFlip', 'RandomGrayscale', 'RandomResizedCrop', 'Resize',
]
