#!/usr/bin/env python
"""Convert a facebookresearch/moco (v1/v2) or moco-v3 checkpoint to an mmmoco checkpoint.

A v1/v2 checkpoint (``module.encoder_q.*``) converts for a ``MoCo`` model, a v3 checkpoint
(``module.base_encoder.*``) for a ``MoCoV3`` model; the key mapping is documented in
:func:`mmmoco.apis.converters.convert_official_moco`.

The output holds ``state_dict`` and ``meta`` (``epoch``, ``arch``, ``source``); it loads into
a model of the same architecture with ``strict=True`` (or via ``load_from``). The optimizer
state (and v3's AMP scaler) is not converted: training cannot resume from it with the same
momentum buffers.
"""
import argparse

from mmmoco.apis.converters import (convert_official_moco_file, converter_parser,
                                    exit_on_bad_input)


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    return converter_parser(
        'Convert a facebookresearch/moco (v1/v2) or moco-v3 checkpoint to an mmmoco checkpoint',
        'official checkpoint (checkpoint_XXXX.pth.tar, r-50-100ep.pth.tar, vit-s-300ep.pth.tar)',
        'where to write the mmmoco checkpoint (.pth)').parse_args()


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    with exit_on_bad_input():
        count = convert_official_moco_file(args.input, args.output, args.force)
    print(f'wrote {count} tensors to {args.output}')


if __name__ == '__main__':
    main()
