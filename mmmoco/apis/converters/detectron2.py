"""detectron2 export: ResNet weights with detectron2 names, as numpy arrays in a pickle."""
import pickle
import re
from typing import Dict, List, Tuple

import numpy as np
import torch

from mmmoco.utils import load_checkpoint_file
from .backbone import extract_backbone
from .common import (check_output_path, conversion_progress, describe_keys, state_dict_of,
                     write_atomically)


#: Parameters and statistics of a BatchNorm layer that detectron2 reads.
NORM = r'(weight|bias|running_mean|running_var)'

#: Stem key (torchvision) -> detectron2 name, without the ``stem.`` prefix.
STEM_RULES: Tuple[Tuple[re.Pattern, str], ...] = (
    (re.compile(r'conv1\.weight'), 'conv1.weight'),
    (re.compile(rf'bn1\.{NORM}'), r'conv1.norm.\1'),
)

#: Key inside a residual block (torchvision) -> detectron2 name inside the block.
BLOCK_RULES: Tuple[Tuple[re.Pattern, str], ...] = (
    (re.compile(r'conv([1-3])\.weight'), r'conv\1.weight'),
    (re.compile(rf'bn([1-3])\.{NORM}'), r'conv\1.norm.\2'),
    (re.compile(r'downsample\.0\.weight'), 'shortcut.weight'),
    (re.compile(rf'downsample\.1\.{NORM}'), r'shortcut.norm.\1'),
)

#: A key of a residual block: stage number, block index, key inside the block.
BLOCK_KEY = re.compile(r'layer([1-4])\.(\d+)\.(.+)')

#: Keys every torchvision-style ResNet has: the stem and the first block of each stage.
RESNET_REQUIRED_KEYS = ('conv1.weight', 'bn1.weight',
                 *(f'layer{stage}.0.conv1.weight' for stage in range(1, 5)))


def detectron2_key(key: str) -> str:
    """The detectron2 name of a torchvision ResNet key.

    Args:
        key: A ResNet key without ``fc``, e.g. ``layer1.0.bn1.running_mean``.

    Returns:
        The detectron2 name, e.g. ``res2.0.conv1.norm.running_mean``.

    Raises:
        ValueError: If ``key`` is not a ResNet stem or residual block key.
    """
    block = BLOCK_KEY.fullmatch(key)
    if block is None:
        prefix, name, rules = 'stem.', key, STEM_RULES
    else:
        prefix, name, rules = f'res{int(block[1]) + 1}.{block[2]}.', block[3], BLOCK_RULES
    for pattern, template in rules:
        match = pattern.fullmatch(name)
        if match is not None:
            return prefix + match.expand(template)
    raise ValueError(f'{key!r} is not a ResNet backbone key')


def check_resnet_keys(weights: Dict[str, torch.Tensor], source: str) -> None:
    """Check that weights hold a whole torchvision-style ResNet (stem and four stages).

    Args:
        weights: Backbone weights with torchvision key names.
        source: Name of the input in error messages (usually its path).

    Raises:
        ValueError: If one of :data:`RESNET_REQUIRED_KEYS` is missing.
    """
    missing = [key for key in RESNET_REQUIRED_KEYS if key not in weights]
    if missing:
        raise ValueError(f'{source} lacks the ResNet keys {missing}; expected the weights of '
                         'a torchvision-style ResNet (stem and layer1-layer4)')


def resnet_weights(checkpoint: dict, source: str) -> Dict[str, torch.Tensor]:
    """The ResNet weights of an input, with torchvision key names.

    Args:
        checkpoint: A loaded extracted backbone (:func:`extract_backbone_file`), mmmoco
            checkpoint, or bare state dict of either.
        source: Name of the input in error messages (usually its path).

    Returns:
        The backbone weights: the state dict itself when it has torchvision names, else its
        ``backbone.*`` weights.

    Raises:
        ValueError: If the input holds neither, or not a whole ResNet.
    """
    state_dict = state_dict_of(checkpoint, source)
    if 'conv1.weight' in state_dict:
        weights = state_dict
    elif any(key.startswith('backbone.') for key in state_dict):
        weights = extract_backbone(checkpoint, 'backbone.', source)
    else:
        raise ValueError(f'{source} holds no ResNet weights; expected torchvision key names '
                         '(conv1.weight, layer1.0.conv1.weight, ... as extract_backbone.py '
                         f'writes) or an mmmoco checkpoint with backbone.* keys, '
                         f'{describe_keys(list(state_dict))}')
    check_resnet_keys(weights, source)
    return weights


def convert_to_detectron2(weights: Dict[str, torch.Tensor],
                          source: str = 'the weights') -> dict:
    """The detectron2 checkpoint of ResNet weights (the layout MoCo's release uses).

    Keys are renamed as ::

        conv1.weight                 -> stem.conv1.weight
        bn1.<p>                      -> stem.conv1.norm.<p>
        layerN.<b>.conv<i>.weight    -> res<N+1>.<b>.conv<i>.weight
        layerN.<b>.bn<i>.<p>         -> res<N+1>.<b>.conv<i>.norm.<p>
        layerN.<b>.downsample.0.*    -> res<N+1>.<b>.shortcut.*
        layerN.<b>.downsample.1.<p>  -> res<N+1>.<b>.shortcut.norm.<p>

    Args:
        weights: Backbone weights with torchvision key names (no ``fc``).
        source: Name of the input in error messages (usually its path).

    Returns:
        ``dict(model=..., __author__='MOCO', matching_heuristics=True)``, ``model`` mapping
        detectron2 names to numpy arrays, without ``num_batches_tracked``.

    Raises:
        ValueError: If a key is not a ResNet backbone key (the message lists them).
    """
    model: Dict[str, np.ndarray] = {}
    unknown: List[str] = []
    for key, value in weights.items():
        if key.endswith('.num_batches_tracked'):
            continue
        try:
            model[detectron2_key(key)] = value.detach().cpu().numpy()
        except ValueError:
            unknown.append(key)
    if unknown:
        raise ValueError(f'{source}: {len(unknown)} keys are not ResNet backbone keys, e.g. '
                         f'{unknown[:5]}; expected torchvision ResNet keys without fc')
    return dict(model=model, __author__='MOCO', matching_heuristics=True)


def convert_to_detectron2_file(src: str, dst: str, force: bool = False) -> int:
    """Write the ResNet weights of a file as a detectron2 ``.pkl``.

    Args:
        src: An extracted backbone or an mmmoco checkpoint file (see :func:`resnet_weights`).
        dst: The output ``.pkl``.
        force: Replace an existing ``dst``.

    Returns:
        The number of arrays written.

    Raises:
        FileExistsError: If ``dst`` exists and ``force`` is False (checked before reading).
        ValueError: If ``src`` holds no whole ResNet.
    """
    check_output_path(dst, force)
    with conversion_progress(src, dst) as step_done:
        checkpoint = load_checkpoint_file(src)
        step_done()
        converted = convert_to_detectron2(resnet_weights(checkpoint, src), src)
        step_done()
        write_atomically(dst, lambda file: pickle.dump(converted, file), force)
    return len(converted['model'])
