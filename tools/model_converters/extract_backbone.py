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

The other converters in this folder import the shared helpers below (loading an input's state
dict, refusing to overwrite, atomic writes).
"""
import argparse
import contextlib
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict
from typing import BinaryIO, Callable, Dict, Iterator, List

import torch

from mmmoco.utils import load_checkpoint_file

#: Prefix of the parameters of facebookresearch/moco's query encoder (MoCo v1/v2).
OFFICIAL_MOCO_PREFIX = 'module.encoder_q.'
#: Prefix of the parameters of facebookresearch/moco-v3's base (query) encoder.
OFFICIAL_MOCOV3_PREFIX = 'module.base_encoder.'


def state_dict_of(checkpoint: dict, source: str) -> Dict[str, object]:
    """The state dict of a full checkpoint (its ``state_dict``) or of a bare state dict.

    Args:
        checkpoint: A loaded checkpoint: a dict with ``state_dict``, or a state dict itself.
        source: Name of the input in error messages (usually its path).

    Returns:
        The state dict, mapping parameter names to tensors.

    Raises:
        ValueError: If ``checkpoint['state_dict']`` is not a dict.
    """
    if 'state_dict' not in checkpoint:
        return checkpoint
    state_dict = checkpoint['state_dict']
    if not isinstance(state_dict, dict):
        raise ValueError(f"{source}: 'state_dict' is a {type(state_dict).__name__}, "
                         'expected a dict of tensors')
    return state_dict


def top_level_prefixes(keys: List[str]) -> List[str]:
    """The distinct leading names of state dict keys, for error messages.

    A leading ``module`` (the DataParallel wrapper) is kept together with the name after it,
    so facebookresearch/moco's keys give ``module.encoder_q`` rather than ``module``.

    Args:
        keys: State dict keys.

    Returns:
        The sorted distinct prefixes.
    """
    parts = (key.split('.') for key in keys)
    return sorted({'.'.join(p[:2] if p[0] == 'module' else p[:1]) for p in parts})


def describe_keys(keys: List[str]) -> str:
    """Say which prefixes an input's keys have, for an error message.

    Args:
        keys: The input's state dict keys.

    Returns:
        The prefixes found, and a pointer to ``from_official_moco.py`` for an official MoCo
        (v1/v2 or v3) checkpoint.
    """
    description = f'found the prefixes {top_level_prefixes(keys)}'
    for prefix, origin in ((OFFICIAL_MOCO_PREFIX, 'facebookresearch/moco'),
                           (OFFICIAL_MOCOV3_PREFIX, 'facebookresearch/moco-v3')):
        if any(key.startswith(prefix) for key in keys):
            description += (f'; its {prefix.rstrip(".")} keys mark a {origin} checkpoint: '
                            'convert it first with tools/model_converters/from_official_moco.py')
    return description


def normalise_prefix(prefix: str) -> str:
    """Make a key prefix end with a dot, so ``backbone`` cannot match ``backbone2.*``.

    Args:
        prefix: A prefix such as ``backbone`` or ``backbone.``.

    Returns:
        The prefix ending with ``.``.
    """
    return prefix if prefix.endswith('.') else prefix + '.'


def extract_backbone(checkpoint: dict, prefix: str = 'backbone.',
                     source: str = 'the checkpoint') -> 'OrderedDict[str, torch.Tensor]':
    """The tensors of a checkpoint under ``prefix``, with the prefix stripped.

    Args:
        checkpoint: A loaded mmmoco checkpoint, or a bare state dict.
        prefix: Prefix of the wanted module's keys (``backbone.``, ``momentum_backbone.``).
        source: Name of the input in error messages (usually its path).

    Returns:
        The backbone's state dict (torchvision names for a ResNet, timm names for a ViT), in
        the input's order.

    Raises:
        ValueError: If no key starts with ``prefix`` or a value under it is not a tensor.
    """
    prefix = normalise_prefix(prefix)
    state_dict = state_dict_of(checkpoint, source)
    weights = OrderedDict((key[len(prefix):], value) for key, value in state_dict.items()
                          if key.startswith(prefix))
    if not weights:
        raise ValueError(f'{source} holds no weights under the prefix {prefix!r}; expected an '
                         f"mmmoco checkpoint (or state dict) with '{prefix}*' keys, "
                         f'{describe_keys(list(state_dict))}')
    not_tensors = [key for key, value in weights.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ValueError(f'{source}: the values of {[prefix + k for k in not_tensors][:5]} '
                         'are not tensors; expected a state dict of tensors')
    return weights


def backbone_meta(checkpoint: dict, source: str, prefix: str) -> dict:
    """The ``meta`` of an extracted backbone: where it came from, and the training progress.

    Args:
        checkpoint: The loaded input checkpoint.
        source: The input's path.
        prefix: The prefix the weights were taken from.

    Returns:
        ``source``, ``prefix`` and, where the input's meta has them, ``epoch`` and ``iter``.
    """
    input_meta = checkpoint.get('meta')
    progress = {key: input_meta[key] for key in ('epoch', 'iter')
                if isinstance(input_meta, dict) and key in input_meta}
    return dict(source=source, prefix=normalise_prefix(prefix), **progress)


def check_output_path(path: str, force: bool) -> None:
    """Refuse to replace an existing file unless ``force`` is set.

    Args:
        path: The output path.
        force: Whether replacing an existing file is allowed.

    Raises:
        FileExistsError: If ``path`` exists and ``force`` is False.
    """
    if osp.lexists(path) and not force:
        raise FileExistsError(f'output {path!r} already exists; pass --force to replace it')


def new_file_mode() -> int:
    """The permissions ``open()`` gives a new file under the current umask.

    Returns:
        ``0o666`` without the umask's bits (temporary files are created ``0o600``).
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: str, write: Callable[[BinaryIO], None], force: bool = False) -> None:
    """Write a file through a temporary file in its folder, then rename it into place.

    A crash or an error while writing leaves any existing ``path`` untouched and no partial
    output behind.

    Args:
        path: The output path; its folder is created if missing.
        write: Writes the content into the binary file object it is given.
        force: Replace an existing ``path``.

    Raises:
        FileExistsError: If ``path`` exists and ``force`` is False.
    """
    check_output_path(path, force)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp',
                                     dir=folder)
    try:
        with os.fdopen(fd, 'wb') as file:
            write(file)
        os.chmod(temp_path, new_file_mode())
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp_path)
        raise


def save_checkpoint(checkpoint: dict, path: str, force: bool = False) -> None:
    """``torch.save`` a checkpoint atomically, refusing to replace a file without ``force``.

    Args:
        checkpoint: The dict to save.
        path: The output path.
        force: Replace an existing ``path``.
    """
    write_atomically(path, lambda file: torch.save(checkpoint, file), force)


def converter_parser(description: str, input_help: str,
                     output_help: str) -> argparse.ArgumentParser:
    """The command line shared by the converters: INPUT OUTPUT [--force].

    Args:
        description: What the converter does.
        input_help: Help of the input argument.
        output_help: Help of the output argument.

    Returns:
        The parser, to which a converter may add its own options.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('input', help=input_help)
    parser.add_argument('output', help=output_help)
    parser.add_argument('--force', action='store_true', help='replace an existing output')
    return parser


@contextlib.contextmanager
def exit_on_bad_input() -> Iterator[None]:
    """Turn the converters' input errors into a one-line ``error: ...`` exit.

    Yields:
        Nothing; an ``OSError`` or ``ValueError`` inside the block exits the program.
    """
    try:
        yield
    except (OSError, ValueError) as error:
        sys.exit(f'error: {error}')


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
        check_output_path(args.output, args.force)
        checkpoint = load_checkpoint_file(args.input)
        weights = extract_backbone(checkpoint, args.prefix, source=args.input)
        meta = backbone_meta(checkpoint, args.input, args.prefix)
        save_checkpoint(dict(state_dict=weights, meta=meta), args.output, args.force)
    print(f'wrote {len(weights)} tensors to {args.output}')


if __name__ == '__main__':
    main()
