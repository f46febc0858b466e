"""Backbone extraction: the weights of an mmmoco checkpoint under a prefix, with torchvision
(ResNet) or timm (ViT) key names."""
from collections import OrderedDict

import torch

from mmmoco.utils import load_checkpoint_file
from .common import (check_output_path, conversion_progress, describe_keys, normalise_prefix,
                     save_checkpoint, state_dict_of)


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


def extract_backbone_file(src: str, dst: str, prefix: str = 'backbone.',
                          force: bool = False) -> int:
    """Write the backbone of a checkpoint file as ``dict(state_dict=..., meta=...)``.

    Args:
        src: An mmmoco checkpoint (or bare state dict) file.
        dst: The output ``.pth``.
        prefix: Prefix of the backbone's keys (``backbone.``; ``momentum_backbone.`` for the
            key encoder).
        force: Replace an existing ``dst``.

    Returns:
        The number of tensors written.

    Raises:
        FileExistsError: If ``dst`` exists and ``force`` is False (checked before reading).
        ValueError: If ``src`` holds no tensors under ``prefix``.
    """
    check_output_path(dst, force)
    with conversion_progress(src, dst) as step_done:
        checkpoint = load_checkpoint_file(src)
        step_done()
        weights = extract_backbone(checkpoint, prefix, source=src)
        step_done()
        save_checkpoint(dict(state_dict=weights, meta=backbone_meta(checkpoint, src, prefix)),
                        dst, force)
    return len(weights)
