"""Use a pretrained backbone on your own images: :func:`get_model` builds it from a config (and
a checkpoint), :func:`embed` turns images into its feature vectors.

The features are those of the evaluation tools (kNN, ``tools/analysis_tools/
extract_features.py``): the same backbone building and strict loading
(:func:`~mmmoco.evaluation.frozen_backbone.build_frozen_backbone`), the same extraction
(:func:`~mmmoco.evaluation.features.extract_features`), the config's own test-time
transforms and normalisation.
"""
import itertools
from typing import List, Optional, Union

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch import nn
from torch.utils.data import DataLoader

from mmmoco.evaluation.features import extract_features
from mmmoco.evaluation.frozen_backbone import build_frozen_backbone
from mmmoco.utils.checks import check_positive_int
from .config_aliases import load_config
from .image_inputs import ImageInputs, Images
from .preprocessing import Preprocessing, eval_pipeline
from .setup_env import register_all_modules
from .shipped import list_configs, resolve_config

#: Folders of the shipped configs whose configs :func:`list_models` names: the pretraining
#: recipes and the kNN configs (frozen-backbone features with their test-time transforms).
MODEL_FOLDERS = ('', 'benchmarks/knn')


def list_models(pattern: str = '*') -> List[str]:
    """The names of the shipped configs that :func:`get_model` is meant for.

    Args:
        pattern: A shell-style pattern the names must match, e.g. ``'*fashionmnist*'``.

    Returns:
        Sorted names: config paths relative to the configs folder without ``.py``, e.g.
        ``'mocov2_r50_8xb32-coslr-200e_in1k'`` or ``'benchmarks/knn/resnet50_knn_imagenet'``.
    """
    return [name for name in list_configs(pattern) if name.rpartition('/')[0] in MODEL_FOLDERS]


def load_model_config(config_or_name: Union[str, Config]) -> Config:
    """Load a config given as a file path, a shipped config name, or a loaded config.

    Args:
        config_or_name: A config file (e.g. the copy a training run writes into its work
            dir), a shipped config's name (see :func:`~mmmoco.apis.shipped.resolve_config`),
            or a :class:`Config`.

    Returns:
        The config.

    Raises:
        FileNotFoundError: If it is neither an existing file nor a shipped name (suggests
            the closest names).
        TypeError: If it is not a str or a Config.
    """
    if isinstance(config_or_name, Config):
        return config_or_name
    if not isinstance(config_or_name, str):
        raise TypeError(f'expected a config path or name, got {type(config_or_name).__name__}')
    return load_config(resolve_config(config_or_name))


def get_model(config_or_name: Union[str, Config], checkpoint: Optional[str] = None,
              device: Optional[Union[str, torch.device]] = None) -> nn.Module:
    """Build a config's backbone in eval mode, with pretrained weights or a seeded random init.

    The backbone carries its test-time preprocessing as ``model.preprocessing`` (a
    :class:`~mmmoco.apis.preprocessing.Preprocessing`: the resize/crop transforms of
    :func:`~mmmoco.apis.preprocessing.eval_pipeline` and the config's data preprocessor with
    its mean and std), which :func:`embed` applies. Torch's global random state is left as it
    was (the random init is seeded with the config's ``randomness.seed``, 0 when unset).

    Args:
        config_or_name: A config file (a pretraining recipe, the copy a training run writes
            into its work dir, or a kNN config), a name from :func:`list_models`, or a
            loaded :class:`Config`.
        checkpoint: An mmmoco training checkpoint, or a backbone extracted from one by
            ``tools/model_converters/extract_backbone.py``; loaded strictly. None keeps the
            random init.
        device: Where the backbone goes; default the GPU when there is one, else the CPU.

    Returns:
        The backbone (a ResNet or a VisionTransformer) in eval mode.

    Raises:
        ValueError: If the config has no ``model.backbone`` or ``model.data_preprocessor``,
            or the checkpoint does not fit the backbone (names the file and the keys).
    """
    register_all_modules()
    cfg = load_model_config(config_or_name)
    missing = [key for key in ('backbone', 'data_preprocessor') if key not in cfg.model]
    if missing:
        raise ValueError(f'{cfg.filename}: get_model needs model.backbone and '
                         f'model.data_preprocessor; model.{missing[0]} is missing')
    pipeline, source = eval_pipeline(cfg)
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    with torch.random.fork_rng(devices=[]):
        backbone, preprocessor = build_frozen_backbone(cfg, checkpoint, device)
    backbone.preprocessing = Preprocessing(pipeline, preprocessor, source)
    return backbone


def model_device(model: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer.

    Args:
        model: The module.

    Returns:
        That device; the CPU for a module without tensors (``RawPixels``).
    """
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return tensor.device if tensor is not None else torch.device('cpu')


def embed(model: nn.Module, images: Images, batch_size: int = 64, progress: bool = True,
          num_workers: int = 0) -> torch.Tensor:
    """The feature vectors of images under a backbone from :func:`get_model`.

    Each image goes through the config's test-time transforms and normalisation; the feature
    is the global-average-pooled last feature map of a ResNet, the class token of a ViT. The
    backbone runs in eval mode on its device (its previous mode is restored).

    Args:
        model: A backbone returned by :func:`get_model` (possibly moved to another device).
        images: A folder (every image file in it and its sub-folders, in sorted path order:
            :func:`mmmoco.datasets.list_images` with ``recursive=True``), or a list of image
            file paths, PIL images and HWC uint8 RGB numpy arrays, in any mix.
        batch_size: Images per forward pass.
        progress: Show a progress bar on stderr (tqdm).
        num_workers: Data loader processes decoding the images (0: in this process).

    Returns:
        Float tensor (N, D) on the CPU, one row per image in input order.

    Raises:
        TypeError: If ``model`` does not come from :func:`get_model`.
    """
    preprocessing = getattr(model, 'preprocessing', None)
    if not isinstance(preprocessing, Preprocessing):
        raise TypeError(f'embed takes a backbone built by mmmoco.apis.get_model, got a '
                        f'{type(model).__name__} without its test-time preprocessing')
    loader = DataLoader(ImageInputs(images, preprocessing.pipeline),
                        batch_size=check_positive_int(batch_size, 'embed batch_size'),
                        shuffle=False, num_workers=num_workers, collate_fn=pseudo_collate)
    preprocessor = preprocessing.data_preprocessor.to(model_device(model))
    was_training = model.training
    model.eval()
    try:
        features, _ = extract_features(model, preprocessor, loader,
                                       progress='embed' if progress else None,
                                       require_labels=False)
    finally:
        model.train(was_training)
    return features
