"""Loading pretrained backbone weights for evaluation, refusing any partial match."""
from collections import OrderedDict

from mmengine.logging import print_log
from torch import nn

from mmmoco.utils.checkpoint import load_checkpoint_file


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
            used, or shapes differ; the message names the file and the first offending keys.
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
    backbone.load_state_dict(state, strict=True)
    print_log(f'Pretrained weights loaded: {len(state)} tensors from {path} into {module_name} '
              f'({type(backbone).__name__}; strict: none missing, none unused)',
              logger='current')
    return len(state)
