#!/usr/bin/env python
"""Extract the backbone of an mmmoco checkpoint as plain backbone weights.

The output holds ``state_dict`` (the weights under ``--prefix`` with the prefix stripped, so
``backbone.layer1.0.conv1.weight`` becomes ``layer1.0.conv1.weight``) and ``meta``. A ResNet's
keys are torchvision's: it loads into torchvision's ``resnetXX`` (all keys but ``fc``), into
mmdet's or mmseg's ``ResNet`` backbone, and through ``init_cfg=dict(type='Pretrained',
checkpoint=OUT)``. A ViT's (MoCo v3) keys are timm's (``patch_embed.proj.weight``,
``blocks.0.attn.qkv.weight``, ...); ``to_timm.py`` writes them in the layout timm and DeiT
load. Works for MoCo v1/v2 and v3 checkpoints alike. Use ``--prefix momentum_backbone.`` for
the key (momentum) encoder instead of the query encoder.

The conversion: :func:`mmmoco.apis.converters.extract_backbone_file`.
"""
import argparse

from mmmoco.apis.converters import converter_parser, exit_on_bad_input, extract_backbone_file


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = converter_parser(
        'Extract the backbone weights (ResNet: torchvision names, ViT: timm names) from an '
        'mmmoco checkpoint',
        'mmmoco checkpoint (or bare state dict) to read',
        'where to write the backbone weights (.pth)')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix of the backbone's keys (default: backbone.; "
                        'momentum_backbone. for the key encoder)')
    return parser.parse_args()


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    with exit_on_bad_input():
        count = extract_backbone_file(args.input, args.output, args.prefix, args.force)
    print(f'wrote {count} tensors to {args.output}')


if __name__ == '__main__':
    main()
