"""timm / DeiT export: a ViT backbone checked to be exactly a head-less timm
``VisionTransformer``'s."""
import re
from collections import OrderedDict
from typing import Dict

import torch

from mmmoco.utils import load_checkpoint_file
from .backbone import extract_backbone
from .common import (OFFICIAL_MOCOV3_PREFIX, check_output_path, conversion_progress,
                     describe_keys, normalise_prefix, save_checkpoint, state_dict_of)
from .official import convert_official_moco


#: The keys of a timm ``VisionTransformer`` with a class token and without a head.
TIMM_VIT_KEY = re.compile(
    r'cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
    r'|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)')

#: Keys every exported ViT has.
VIT_REQUIRED_KEYS = ('cls_token', 'pos_embed', 'patch_embed.proj.weight',
                 'blocks.0.attn.qkv.weight', 'norm.weight')


def check_vit_keys(weights: Dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights that are not exactly a head-less timm ViT's.

    Args:
        weights: Backbone weights.
        source: Name of the input in error messages (usually its path).

    Raises:
        ValueError: If a required key is missing or a key is not a timm ViT key.
    """
    missing = [key for key in VIT_REQUIRED_KEYS if key not in weights]
    unknown = [key for key in weights if TIMM_VIT_KEY.fullmatch(key) is None]
    if missing or unknown:
        raise ValueError(f'{source} is not a ViT backbone with timm key names: missing '
                         f'{missing}, {len(unknown)} other keys {unknown[:5]}')


def vit_weights(checkpoint: dict, prefix: str = 'backbone.',
                source: str = 'the checkpoint') -> 'OrderedDict[str, torch.Tensor]':
    """The ViT backbone weights of an mmmoco checkpoint, an extracted backbone or an official
    moco-v3 checkpoint.

    Args:
        checkpoint: The loaded input.
        prefix: Prefix of the backbone's keys in an mmmoco (or converted official) checkpoint.
        source: Name of the input in error messages (usually its path).

    Returns:
        The weights with timm key names.

    Raises:
        ValueError: If no ViT backbone with timm key names is found.
    """
    state_dict = state_dict_of(checkpoint, source)
    if any(key.startswith(OFFICIAL_MOCOV3_PREFIX) for key in state_dict):
        state_dict = convert_official_moco(state_dict, source)
    if any(key.startswith(normalise_prefix(prefix)) for key in state_dict):
        weights = extract_backbone(state_dict, prefix, source)
    elif 'cls_token' in state_dict:
        weights = OrderedDict(state_dict)
    else:
        raise ValueError(f'{source} holds no ViT weights; expected an mmmoco checkpoint with '
                         f"'{normalise_prefix(prefix)}*' keys, an extracted ViT backbone or a "
                         f'moco-v3 checkpoint, {describe_keys(list(state_dict))}')
    check_vit_keys(weights, source)
    return weights


def export_meta(checkpoint: dict, source: str) -> dict:
    """The ``meta`` of an export: its source and, where the input tells it, the epoch.

    Args:
        checkpoint: The loaded input (mmmoco: epoch in ``meta``; moco-v3: at the top level).
        source: The input's path.

    Returns:
        ``source`` and, where known, ``epoch`` (epochs finished).
    """
    input_meta = checkpoint.get('meta')
    epoch = input_meta.get('epoch') if isinstance(input_meta, dict) else checkpoint.get('epoch')
    return dict(source=source) if epoch is None else dict(source=source, epoch=epoch)


def export_timm_file(src: str, dst: str, prefix: str = 'backbone.',
                     force: bool = False) -> int:
    """Write the ViT backbone of a file as a timm / DeiT ``dict(model=..., meta=...)``.

    Args:
        src: An mmmoco ViT checkpoint, an extracted ViT backbone or an official moco-v3 ViT
            checkpoint file (see :func:`vit_weights`).
        dst: The output ``.pth``.
        prefix: Prefix of the backbone's keys in an mmmoco checkpoint.
        force: Replace an existing ``dst``.

    Returns:
        The number of tensors written.

    Raises:
        FileExistsError: If ``dst`` exists and ``force`` is False (checked before reading).
        ValueError: If ``src`` holds no ViT backbone with timm key names.
    """
    check_output_path(dst, force)
    with conversion_progress(src, dst) as step_done:
        checkpoint = load_checkpoint_file(src)
        step_done()
        weights = vit_weights(checkpoint, prefix, src)
        step_done()
        save_checkpoint(dict(model=weights, meta=export_meta(checkpoint, src)), dst, force)
    return len(weights)
