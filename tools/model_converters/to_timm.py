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

The conversion: :func:`mmmoco.apis.converters.export_timm_file`.
"""
import argparse

from mmmoco.apis.converters import converter_parser, exit_on_bad_input, export_timm_file


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = converter_parser(
        'Export a ViT backbone with timm key names in the timm/DeiT checkpoint layout',
        'mmmoco checkpoint, extract_backbone.py output, or official moco-v3 ViT checkpoint',
        'where to write the timm/DeiT checkpoint (.pth)')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix of the backbone's keys in an mmmoco checkpoint (default: "
                        'backbone.; momentum_backbone. for the key encoder)')
    return parser.parse_args()


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    with exit_on_bad_input():
        count = export_timm_file(args.input, args.output, args.prefix, args.force)
    print(f'wrote {count} tensors to {args.output}')


if __name__ == '__main__':
    main()
