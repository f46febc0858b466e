#!/usr/bin/env python
"""Export a ViT backbone (MoCo v3) as a timm / DeiT checkpoint.

mmmoco's ``VisionTransformer`` keeps timm's module names, so the export only selects the
backbone's weights and checks that they are a timm ViT's: ``cls_token``, ``pos_embed``,
``patch_embed.proj.*``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*`` and
``norm.*``; there is no ``head``. The input is any of

- an mmmoco checkpoint of a ViT model (its ``backbone.*`` weights, or ``--prefix
  momentum_backbone.`` for the key encoder),
- the output of ``extract_backbone.py`` for a ViT,
- an official facebookresearch/moco-v3 ViT checkpoint (``module.base_encoder.*`` without the
  projector ``head``, as moco-v3's ``convert_to_deit.py`` takes it).

The output is ``dict(model=weights, meta=...)``, DeiT's checkpoint layout, which timm reads too.
It loads with ``strict=True`` into ``timm.create_model('vit_small_patch16_224',
num_classes=0)`` (``vit_base_patch16_224`` for ViT-B), or into the default 1000-class model
with only ``head.weight`` and ``head.bias`` missing. MoCo v3's ViT-Small has 12 attention heads
where timm's and DeiT's have 6: the weights load either way (the head count changes no shape),
but the same outputs need ``num_heads=12`` (``timm.create_model(..., num_heads=12)``).
"""
import re
from collections import OrderedDict
from typing import Dict

import torch

from extract_backbone import (OFFICIAL_MOCOV3_PREFIX, check_output_path, converter_parser,
                              describe_keys, exit_on_bad_input, extract_backbone,
                              normalise_prefix, save_checkpoint, state_dict_of)
from from_official_moco import convert_official_moco
from mmmoco.utils import load_checkpoint_file

#: The keys of a timm ``VisionTransformer`` with a class token and without a head.
TIMM_VIT_KEY = re.compile(
    r'cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
    r'|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)')

#: Keys every exported ViT has.
REQUIRED_KEYS = ('cls_token', 'pos_embed', 'patch_embed.proj.weight',
                 'blocks.0.attn.qkv.weight', 'norm.weight')


def check_vit_keys(weights: Dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights that are not exactly a head-less timm ViT's.

    Args:
        weights: Backbone weights.
        source: Name of the input in error messages (usually its path).

    Raises:
        ValueError: If a required key is missing or a key is not a timm ViT key.
    """
    missing = [key for key in REQUIRED_KEYS if key not in weights]
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


def main() -> None:
    """Command-line entry point."""
    parser = converter_parser(
        'Export a ViT backbone with timm key names in the timm/DeiT checkpoint layout',
        'mmmoco checkpoint, extract_backbone.py output, or official moco-v3 ViT checkpoint',
        'where to write the timm/DeiT checkpoint (.pth)')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix of the backbone's keys in an mmmoco checkpoint (default: "
                        'backbone.; momentum_backbone. for the key encoder)')
    args = parser.parse_args()
    with exit_on_bad_input():
        check_output_path(args.output, args.force)
        checkpoint = load_checkpoint_file(args.input)
        weights = vit_weights(checkpoint, args.prefix, args.input)
        save_checkpoint(dict(model=weights, meta=export_meta(checkpoint, args.input)),
                        args.output, args.force)
    print(f'wrote {len(weights)} tensors to {args.output}')


if __name__ == '__main__':
    main()
