"""The test-time preprocessing of a config: the transforms that turn an image file into the
backbone's input, and the normalisation that follows on the device."""
from dataclasses import dataclass
from typing import Any, List, Tuple

from mmengine.config import Config
from torch import nn

#: Fraction of the resized image that the center crop keeps in the ImageNet evaluation
#: protocol of the MoCo papers (resize the shorter side to 256, crop 224).
CENTER_CROP_FRACTION = 224 / 256


@dataclass
class Preprocessing:
    """What :func:`~mmmoco.apis.embed` needs to feed images to a backbone built by
    :func:`~mmmoco.apis.get_model`.

    Args:
        pipeline: Transform configs from ``LoadImageFromFile`` to ``PackInputs`` (resize and
            crop, no augmentation).
        data_preprocessor: Normalises a packed batch with the config's mean and std.
        source: Where the pipeline comes from, for messages.
    """
    pipeline: List[dict]
    data_preprocessor: nn.Module
    source: str


def _crop_sizes(node: Any) -> List[Tuple[int, int]]:
    """The (height, width) of every ``RandomResizedCrop`` config nested in ``node``."""
    if isinstance(node, dict):
        found = [node['size']] if node.get('type') == 'RandomResizedCrop' else []
        found = [(size, size) if isinstance(size, int) else tuple(size) for size in found]
        return found + [size for value in node.values() for size in _crop_sizes(value)]
    if isinstance(node, (list, tuple)):
        return [size for item in node for size in _crop_sizes(item)]
    return []


def eval_pipeline(cfg: Config) -> Tuple[List[dict], str]:
    """The test-time transforms of a config.

    An evaluation config (kNN, linear evaluation) has them: its validation loader's pipeline.
    A pretraining recipe has only augmentations; its test-time transforms are the ImageNet
    protocol scaled to the recipe's largest training crop S (global views, not multi-crop's
    small ones): resize the shorter side to S / :data:`CENTER_CROP_FRACTION`, center crop S
    (256 and 224 for the ImageNet recipes, as ``configs/benchmarks/knn/``; 32 and 28 for the
    Fashion-MNIST ones).

    Args:
        cfg: A loaded config.

    Returns:
        The transform configs (``LoadImageFromFile`` ... ``PackInputs``) and a description of
        where they come from.

    Raises:
        ValueError: If the config has neither a validation pipeline nor a
            ``RandomResizedCrop`` in its training pipeline; names the config.
    """
    val_loader = cfg.get('val_dataloader') or {}
    pipeline = (val_loader.get('dataset') or {}).get('pipeline')
    if pipeline:
        source = f'val_dataloader.dataset.pipeline of {cfg.filename}'
        return [dict(transform) for transform in pipeline], source
    train_loader = cfg.get('train_dataloader') or {}
    sizes = _crop_sizes((train_loader.get('dataset') or {}).get('pipeline', []))
    if not sizes:
        raise ValueError(f'{cfg.filename}: no val_dataloader.dataset.pipeline and no '
                         'RandomResizedCrop in train_dataloader.dataset.pipeline, so the '
                         'test-time input size is unknown')
    crop = max(sizes, key=lambda size: size[0] * size[1])
    resize = round(max(crop) / CENTER_CROP_FRACTION)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', size=resize),
                dict(type='CenterCrop', size=crop if crop[0] != crop[1] else crop[0]),
                dict(type='PackInputs')]
    return pipeline, (f'resize {resize} + center crop {crop[0]}x{crop[1]}, from the training '
                      f'crops of {cfg.filename}')
