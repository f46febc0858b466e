"""Official checkpoints: facebookresearch/moco (v1/v2) and moco-v3 state dicts renamed to
mmmoco's ``MoCo`` / ``MoCoV3`` keys."""
import re
from collections import OrderedDict
from typing import Callable, Dict, Tuple

import torch

from mmmoco.utils import load_checkpoint_file
from .common import (OFFICIAL_MOCOV3_PREFIX, OFFICIAL_MOCO_PREFIX, check_output_path,
                     conversion_progress, save_checkpoint, state_dict_of, top_level_prefixes)


#: Official MoCo v1/v2 encoder prefix -> (mmmoco backbone prefix, mmmoco neck prefix).
ENCODERS: Dict[str, Tuple[str, str]] = {
    OFFICIAL_MOCO_PREFIX: ('backbone.', 'neck.'),
    'module.encoder_k.': ('momentum_backbone.', 'momentum_neck.'),
}

#: An official projection head key inside an encoder (``fc.*``), for MLPNeck or LinearNeck.
PROJECTION_KEY = re.compile(r'fc\.(?:(?P<layer>[02])\.)?(?P<param>weight|bias)')

#: Official MoCo v3 encoder prefix -> (mmmoco backbone prefix, mmmoco neck prefix).
V3_ENCODERS: Dict[str, Tuple[str, str]] = {
    OFFICIAL_MOCOV3_PREFIX: ('backbone.', 'neck.'),
    'module.momentum_encoder.': ('momentum_backbone.', 'momentum_neck.'),
}

#: Prefix of moco-v3's predictor MLP.
V3_PREDICTOR_PREFIX = 'module.predictor.'

#: A layer of a moco-v3 MLP (``nn.Sequential`` of Linear, BN, ReLU): index and parameter.
V3_MLP_LAYER = re.compile(
    r'(?P<layer>\d+)\.(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)')

#: A moco-v3 projector key inside an encoder: ``fc.*`` (ResNet) or ``head.*`` (ViT).
V3_PROJECTOR_KEY = re.compile(r'(?:fc|head)\.(?P<layer>.+)')


def projection_key(name: str, neck_prefix: str) -> str:
    """The mmmoco neck key of an official projection head key.

    Args:
        name: The key inside the encoder, starting with ``fc.``.
        neck_prefix: ``neck.`` or ``momentum_neck.``.

    Returns:
        ``<neck>.mlp.{0,2}.<param>`` for the v2 MLP, ``<neck>.fc.<param>`` for the v1 linear.

    Raises:
        ValueError: For any other ``fc`` key.
    """
    match = PROJECTION_KEY.fullmatch(name)
    if match is None:
        raise ValueError(f'unexpected projection head key {name!r}; expected fc.weight/'
                         'fc.bias (MoCo v1) or fc.0.* and fc.2.* (MoCo v2 MLP)')
    if match['layer'] is None:
        return f"{neck_prefix}fc.{match['param']}"
    return f"{neck_prefix}mlp.{match['layer']}.{match['param']}"


def encoder_key(key: str) -> str:
    """The mmmoco key of an official encoder key.

    Args:
        key: A key starting with ``module.encoder_q.`` or ``module.encoder_k.``.

    Returns:
        The backbone or neck key of the matching mmmoco module.

    Raises:
        ValueError: If ``key`` belongs to no official encoder, or to an unknown head layer.
    """
    for official, (backbone_prefix, neck_prefix) in ENCODERS.items():
        if key.startswith(official):
            name = key[len(official):]
            if name.startswith('fc.'):
                return projection_key(name, neck_prefix)
            return backbone_prefix + name
    raise ValueError(f'unexpected key {key!r}; expected module.encoder_q.*, '
                     'module.encoder_k.*, module.queue or module.queue_ptr')


def transpose_queue(queue: torch.Tensor) -> torch.Tensor:
    """The official (dim, K) queue as mmmoco's (K, dim) queue.

    Args:
        queue: The official queue, one key per column.

    Returns:
        The queue with one key per row.

    Raises:
        ValueError: If the queue is not 2-D.
    """
    if queue.dim() != 2:
        raise ValueError(f'module.queue has shape {tuple(queue.shape)}, expected (dim, K)')
    return queue.t().contiguous()


def scalar_pointer(pointer: torch.Tensor) -> torch.Tensor:
    """The official (1,) queue pointer as mmmoco's 0-d long tensor.

    Args:
        pointer: The official pointer.

    Returns:
        The pointer as a 0-d ``torch.long`` tensor.

    Raises:
        ValueError: If the pointer does not hold exactly one value.
    """
    if pointer.numel() != 1:
        raise ValueError(f'module.queue_ptr has shape {tuple(pointer.shape)}, expected (1,)')
    return pointer.reshape(()).long()


#: Official queue buffers -> (mmmoco key, conversion).
QUEUE_BUFFERS: Dict[str, Tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    'module.queue': ('queue.keys', transpose_queue),
    'module.queue_ptr': ('queue.ptr', scalar_pointer),
}


def mlp_layer_key(name: str, mmmoco_prefix: str, what: str) -> str:
    """The ``MLPNeck`` key of a moco-v3 MLP layer key.

    Args:
        name: The key inside the MLP, ``<index>.<param>``.
        mmmoco_prefix: ``neck.``, ``momentum_neck.`` or ``predictor.``.
        what: The MLP's official name, for error messages.

    Returns:
        ``<mmmoco_prefix>mlp.<index>.<param>``.

    Raises:
        ValueError: If ``name`` is not ``<index>.<param>`` of a Linear or BN layer.
    """
    if V3_MLP_LAYER.fullmatch(name) is None:
        raise ValueError(f'unexpected {what} key {name!r}; expected <layer index>.<weight|bias|'
                         'running_mean|running_var|num_batches_tracked>')
    return f'{mmmoco_prefix}mlp.{name}'


def mocov3_key(key: str) -> str:
    """The mmmoco ``MoCoV3`` key of an official moco-v3 key.

    Args:
        key: A key starting with ``module.base_encoder.``, ``module.momentum_encoder.`` or
            ``module.predictor.``.

    Returns:
        The backbone, projector (neck) or predictor key of the matching mmmoco module.

    Raises:
        ValueError: If ``key`` belongs to none of them, or to an unknown MLP layer.
    """
    if key.startswith(V3_PREDICTOR_PREFIX):
        return mlp_layer_key(key[len(V3_PREDICTOR_PREFIX):], 'predictor.', 'predictor')
    for official, (backbone_prefix, neck_prefix) in V3_ENCODERS.items():
        if key.startswith(official):
            name = key[len(official):]
            projector = V3_PROJECTOR_KEY.fullmatch(name)
            if projector is not None:
                return mlp_layer_key(projector['layer'], neck_prefix, 'projector (fc/head)')
            return backbone_prefix + name
    raise ValueError(f'unexpected key {key!r}; expected module.base_encoder.*, '
                     'module.momentum_encoder.* or module.predictor.*')


def convert_keys(state_dict: Dict[str, torch.Tensor],
                 convert_key: Callable[[str], str]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename every key of an official state dict, converting the queue buffers.

    Args:
        state_dict: The official state dict.
        convert_key: Maps an official encoder/predictor key to its mmmoco key.

    Returns:
        The renamed state dict, in the input's order.
    """
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key in QUEUE_BUFFERS:
            new_key, convert = QUEUE_BUFFERS[key]
            converted[new_key] = convert(value)
        else:
            converted[convert_key(key)] = value
    return converted


def convert_official_moco(state_dict: Dict[str, torch.Tensor],
                          source: str = 'the state dict') -> 'OrderedDict[str, torch.Tensor]':
    """Convert the state dict of an official MoCo v1/v2 or v3 model to mmmoco's keys.

    The version is told by the query encoder's prefix: ``module.encoder_q.`` (v1/v2, for
    ``MoCo``) or ``module.base_encoder.`` (v3, for ``MoCoV3``).

    MoCo v1/v2 (``main_moco.py`` of facebookresearch/moco; ``<rest>`` is a torchvision ResNet
    key)::

        module.encoder_q.<rest>          -> backbone.<rest>
        module.encoder_q.fc.{0,2}.<p>    -> neck.mlp.{0,2}.<p>      (v2 MLP head, MLPNeck)
        module.encoder_q.fc.<p>          -> neck.fc.<p>             (v1 linear head, LinearNeck)
        module.encoder_k.*               -> momentum_backbone.* / momentum_neck.*, likewise
        module.queue      (dim, K)       -> queue.keys (K, dim)
        module.queue_ptr  (1,)           -> queue.ptr ()

    MoCo v3 (facebookresearch/moco-v3; ``<rest>`` is a torchvision ResNet key or a timm ViT
    key, the projector is the encoder's ``fc`` (ResNet) or ``head`` (ViT) ``nn.Sequential``,
    whose layer indices equal those of mmmoco's ``MLPNeck.mlp``)::

        module.base_encoder.<rest>                -> backbone.<rest>
        module.base_encoder.{fc,head}.<i>.<p>     -> neck.mlp.<i>.<p>
        module.momentum_encoder.*                 -> momentum_backbone.* / momentum_neck.*
        module.predictor.<i>.<p>                  -> predictor.mlp.<i>.<p>

    Args:
        state_dict: The official checkpoint's ``state_dict``.
        source: Name of the input in error messages (usually its path).

    Returns:
        The mmmoco state dict, in the input's order; it loads with ``strict=True`` into a
        model of the same architecture.

    Raises:
        ValueError: If the input has neither query encoder prefix, or has keys or buffer
            shapes outside the official layout of its version.
    """
    if any(key.startswith(OFFICIAL_MOCO_PREFIX) for key in state_dict):
        convert_key = encoder_key
    elif any(key.startswith(OFFICIAL_MOCOV3_PREFIX) for key in state_dict):
        convert_key = mocov3_key
    else:
        raise ValueError(f'{source} has no {OFFICIAL_MOCO_PREFIX}* (MoCo v1/v2) or '
                         f'{OFFICIAL_MOCOV3_PREFIX}* (MoCo v3) keys; expected a '
                         'facebookresearch/moco or moco-v3 checkpoint, found the prefixes '
                         f'{top_level_prefixes(list(state_dict))}')
    try:
        return convert_keys(state_dict, convert_key)
    except ValueError as error:
        raise ValueError(f'{source}: {error}') from error


def official_meta(checkpoint: dict, source: str) -> dict:
    """The ``meta`` of a converted checkpoint.

    Args:
        checkpoint: The loaded official checkpoint.
        source: Its path.

    Returns:
        ``source`` and, where present, the official ``epoch`` (epochs finished, as in
        mmengine's meta) and ``arch``.
    """
    return dict(source=source, **{key: checkpoint[key] for key in ('epoch', 'arch')
                                  if key in checkpoint})


def convert_official_moco_file(src: str, dst: str, force: bool = False) -> int:
    """Write an official MoCo checkpoint file as an mmmoco ``dict(meta=..., state_dict=...)``.

    The optimizer state (and v3's AMP scaler) is not converted.

    Args:
        src: A facebookresearch/moco or moco-v3 checkpoint file.
        dst: The output ``.pth``.
        force: Replace an existing ``dst``.

    Returns:
        The number of tensors written.

    Raises:
        FileExistsError: If ``dst`` exists and ``force`` is False (checked before reading).
        ValueError: If ``src`` is not in an official layout (see :func:`convert_official_moco`).
    """
    check_output_path(dst, force)
    with conversion_progress(src, dst) as step_done:
        checkpoint = load_checkpoint_file(src)
        step_done()
        state_dict = convert_official_moco(state_dict_of(checkpoint, src), src)
        step_done()
        save_checkpoint(dict(meta=official_meta(checkpoint, src), state_dict=state_dict), dst,
                        force)
    return len(state_dict)
