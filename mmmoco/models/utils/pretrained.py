"""Pretrained backbone weights: reading them from a file, loading them strictly, and the
coverage report of the modules a transfer config initialises from them (used by evaluation,
the transfer wrappers and their hook)."""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

from mmmoco.utils.checkpoint import load_checkpoint_file
from mmmoco.utils.state_values import check_loaded_values

#: Key prefix of the query backbone in mmmoco training checkpoints.
BACKBONE_PREFIX = 'backbone.'

#: How many offending keys an error message lists.
LISTED_KEYS = 20


def backbone_state_dict(checkpoint: dict, prefix: str = 'backbone.') -> 'OrderedDict':
    """The backbone weights of a checkpoint: an mmmoco training checkpoint (keys under
    ``prefix``) or an extracted backbone (torchvision key names).

    Args:
        checkpoint: A loaded checkpoint dict (with or without a ``state_dict`` entry).
        prefix: Key prefix of the backbone in training checkpoints.

    Returns:
        The backbone state dict with torchvision key names.
    """
    state = checkpoint.get('state_dict', checkpoint)
    if any(key.startswith(prefix) for key in state):
        return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    return OrderedDict(state)


def load_pretrained_backbone(backbone: nn.Module, path: str,
                             module_name: str = 'model.backbone') -> int:
    """Load pretrained weights into ``backbone``; every weight must be present, used and of
    the right shape. Logs (to the current mmengine logger) which file was loaded into which
    module, and how many tensors.

    Args:
        backbone: The backbone to fill.
        path: An mmmoco checkpoint or an extracted backbone file.
        module_name: The backbone's name in messages.

    Returns:
        The number of tensors loaded.

    Raises:
        ValueError: If any backbone weight is missing from the file, any file weight is not
            used, or shapes differ; or a weight is of another dtype kind (int into float) or
            not finite (NaN/Inf). The message names the file and the first offending keys.
    """
    state = backbone_state_dict(load_checkpoint_file(path))
    expected = backbone.state_dict()
    missing = [k for k in expected if k not in state]
    unused = [k for k in state if k not in expected]
    mismatched = [f'{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}'
                  for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unused or mismatched:
        raise ValueError(
            f'{path} does not match the backbone: {len(missing)} missing weights '
            f'{missing[:5]}, {len(unused)} unused weights {unused[:5]}, {len(mismatched)} '
            f'shape mismatches {mismatched[:5]}')
    check_loaded_values(expected, state, path)
    backbone.load_state_dict(state, strict=True)
    print_log(f'Pretrained weights loaded: {len(state)} tensors from {path} into {module_name} '
              f'({type(backbone).__name__}; strict: none missing, none unused)',
              logger='current')
    return len(state)


def join(path: str, name: str) -> str:
    """Append a name to a dotted module path.

    Args:
        path: The dotted path; '' for the root.
        name: The child's name.

    Returns:
        The child's dotted path.
    """
    return f'{path}.{name}' if path else name


def load_pretrained_weights(path: str) -> Tuple[Dict[str, torch.Tensor], Optional[str]]:
    """Read the backbone weights of a pretrained file.

    Args:
        path: An extracted backbone or an mmmoco training checkpoint.

    Returns:
        The weights with torchvision key names, and the key prefix ``init_cfg`` must strip
        when loading the file (``'backbone.'`` for a training checkpoint, else None).
    """
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get('state_dict', checkpoint)
    prefix = BACKBONE_PREFIX if any(key.startswith(BACKBONE_PREFIX) for key in state) else None
    return backbone_state_dict(checkpoint, BACKBONE_PREFIX), prefix


def submodule(model: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted path found in the model config.

    Args:
        model: The bare model.
        path: Dotted path, e.g. ``'roi_head.shared_head'``.

    Returns:
        The submodule.

    Raises:
        ValueError: If the model has no such submodule.
    """
    try:
        return model.get_submodule(path)
    except AttributeError as error:
        raise ValueError(f'the config gives model.{path} a Pretrained init_cfg, but the '
                         f'built {type(model).__name__} has no submodule {path!r}') from error


def expected_weights(module: nn.Module) -> Dict[str, torch.Size]:
    """The weights a pretrained file must provide for ``module``.

    Args:
        module: A module initialised from the pretrained file.

    Returns:
        Its state dict's keys and shapes, without the children named in its
        ``not_pretrained`` attribute (if any).
    """
    skipped = tuple(f'{name}.' for name in getattr(module, 'not_pretrained', ()))
    return {key: value.shape for key, value in module.state_dict().items()
            if not key.startswith(skipped)}


def listed(keys: List[str]) -> str:
    """Format offending keys for an error message.

    Args:
        keys: The keys.

    Returns:
        The first :data:`LISTED_KEYS` of them, and how many more there are.
    """
    more = len(keys) - LISTED_KEYS
    return ', '.join(keys[:LISTED_KEYS]) + (f' (and {more} more)' if more > 0 else '')


def module_names(module_paths: List[str]) -> str:
    """Name modules for a message.

    Args:
        module_paths: Dotted paths in the model ('' for the model itself).

    Returns:
        E.g. ``'model.backbone, model.roi_head.shared_head'``.
    """
    return ', '.join(join('model', path) for path in module_paths)


def check_pretrained_coverage(model: nn.Module, module_paths: List[str],
                              weights: Dict[str, torch.Tensor], source: str) -> List[str]:
    """Check that a pretrained file holds every weight of the modules that load it.

    Args:
        model: The bare model (built, not yet initialised).
        module_paths: Dotted paths of the modules initialised from the file.
        weights: The file's weights (see :func:`load_pretrained_weights`).
        source: The file's path, for messages.

    Returns:
        The file's keys that none of the modules takes (e.g. a classifier's ``fc``), sorted.

    Raises:
        ValueError: If a weight is missing from the file or has another shape there; the
            message names the file and the offending keys.
    """
    missing, mismatched, used = [], [], set()
    for path in module_paths:
        for key, shape in expected_weights(submodule(model, path)).items():
            if key not in weights:
                missing.append(key)
            elif weights[key].shape != shape:
                mismatched.append(f'{key}: {tuple(weights[key].shape)} in the file, '
                                  f'{tuple(shape)} in model.{path}')
            else:
                used.add(key)
    if missing or mismatched:
        problems = []
        if missing:
            problems.append(f'{len(missing)} weights are missing: {listed(missing)}')
        if mismatched:
            problems.append(f'{len(mismatched)} have another shape: {listed(mismatched)}')
        raise ValueError(f'pretrained file {source} does not fit {module_names(module_paths)}: '
                         + '; '.join(problems))
    return sorted(set(weights) - used)


def compare_loaded_weights(model: nn.Module, module_paths: List[str], source: str) -> int:
    """Check that the modules initialised from a pretrained file hold exactly its tensors.

    Args:
        model: The bare model, after the runner initialised its weights.
        module_paths: Dotted paths of the modules initialised from the file.
        source: The pretrained file.

    Returns:
        The number of tensors compared.

    Raises:
        RuntimeError: If a module's weight differs from the file's (initialisation did not
            load it); the message lists the keys.
    """
    weights, _ = load_pretrained_weights(source)
    differing, count = [], 0
    for path in module_paths:
        module = submodule(model, path)
        state = module.state_dict()
        for key in expected_weights(module):
            count += 1
            if not torch.equal(state[key].detach().cpu(), weights[key]):
                differing.append(f'{path}.{key}')
    if differing:
        raise RuntimeError(f'these weights were not loaded from {source}: {listed(differing)}')
    return count
