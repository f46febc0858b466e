#!/usr/bin/env python
"""Convert ResNet backbone weights to a detectron2 ``.pkl`` (the layout MoCo's release uses).

The input is the output of ``extract_backbone.py`` (torchvision key names) or an mmmoco
checkpoint (its ``backbone.*`` weights are used). The output is a pickle of
``dict(model=..., __author__='MOCO', matching_heuristics=True)`` whose ``model`` maps
detectron2 names to numpy arrays (the key mapping is documented in
:func:`mmmoco.apis.converters.convert_to_detectron2`); ``num_batches_tracked`` counters are
dropped. Train detectron2 with ``MODEL.WEIGHTS out.pkl``, ``MODEL.PIXEL_MEAN``/``PIXEL_STD``
of torchvision (RGB, ``INPUT.FORMAT RGB``) and ``MODEL.RESNETS.STRIDE_IN_1X1 False``, as MoCo's
detection configs do.
"""
import argparse

from mmmoco.apis.converters import (convert_to_detectron2_file, converter_parser,
                                    exit_on_bad_input)


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    return converter_parser(
        'Convert ResNet backbone weights to a detectron2 .pkl',
        'output of extract_backbone.py, or an mmmoco checkpoint',
        'where to write the detectron2 weights (.pkl)').parse_args()


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    with exit_on_bad_input():
        count = convert_to_detectron2_file(args.input, args.output, args.force)
    print(f'wrote {count} arrays to {args.output}')


if __name__ == '__main__':
    main()
