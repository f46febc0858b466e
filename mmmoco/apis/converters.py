"""Checkpoint conversions behind ``tools/model_converters``: the library the scripts call.

- backbone extraction (:func:`extract_backbone`, :func:`extract_backbone_file`): the weights
  of an mmmoco checkpoint under a prefix (``backbone.``), with torchvision (ResNet) or timm
  (ViT) key names;
- official checkpoints (:func:`convert_official_moco`, :func:`convert_official_moco_file`):
  facebookresearch/moco (v1/v2) and moco-v3 state dicts renamed to mmmoco's ``MoCo`` /
  ``MoCoV3`` keys;
- detectron2 (:func:`convert_to_detectron2`, :func:`convert_to_detectron2_file`): ResNet
  weights with detectron2 names, as numpy arrays in a pickle;
- timm / DeiT (:func:`vit_weights`, :func:`export_timm_file`): a ViT backbone checked to be
  exactly a head-less timm ``VisionTransformer``'s.

The ``*_file`` functions read an input file, convert it and write the output atomically
(:func:`write_atomically`), refusing to replace an existing output without ``force``. Input
errors raise ``ValueError`` (or ``OSError``) naming the input; :func:`exit_on_bad_input` turns
them into a one-line exit for the scripts, whose command line :func:`converter_parser` builds.
"""
import argparse
import contextlib
import os
import os.path as osp
import pickle
import re
import sys
import tempfile
from collections import OrderedDict
from typing import BinaryIO, Callable, Dict, Iterator, List, Tuple

import numpy as np
import torch

from mmmoco.utils import load_checkpoint_file

#: Prefix of the parameters of facebookresearch/moco's query encoder (MoCo v1/v2).
OFFICIAL_MOCO_PREFIX = 'module.encoder_q.'
#: Prefix of the parameters of facebookresearch/moco-v3's base (query) encoder.
OFFICIAL_MOCOV3_PREFIX = 'module.base_encoder.'


# ------------------------------------------------------------------------ input state dicts


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


# ----------------------------------------------------------------------------- output files


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


# ---------------------------------------------------- command line of the converter scripts


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


# ---------------------------------------------------------------------- backbone extraction


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
    checkpoint = load_checkpoint_file(src)
    weights = extract_backbone(checkpoint, prefix, source=src)
    save_checkpoint(dict(state_dict=weights, meta=backbone_meta(checkpoint, src, prefix)), dst,
                    force)
    return len(weights)


# --------------------------------------------------- official MoCo v1/v2 and v3 checkpoints


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
    checkpoint = load_checkpoint_file(src)
    state_dict = convert_official_moco(state_dict_of(checkpoint, src), src)
    save_checkpoint(dict(meta=official_meta(checkpoint, src), state_dict=state_dict), dst, force)
    return len(state_dict)


# ------------------------------------------------------------------------------- detectron2


#: Parameters and statistics of a BatchNorm layer that detectron2 reads.
NORM = r'(weight|bias|running_mean|running_var)'

#: Stem key (torchvision) -> detectron2 name, without the ``stem.`` prefix.
STEM_RULES: Tuple[Tuple[re.Pattern, str], ...] = (
    (re.compile(r'conv1\.weight'), 'conv1.weight'),
    (re.compile(rf'bn1\.{NORM}'), r'conv1.norm.\1'),
)

#: Key inside a residual block (torchvision) -> detectron2 name inside the block.
BLOCK_RULES: Tuple[Tuple[re.Pattern, str], ...] = (
    (re.compile(r'conv([1-3])\.weight'), r'conv\1.weight'),
    (re.compile(rf'bn([1-3])\.{NORM}'), r'conv\1.norm.\2'),
    (re.compile(r'downsample\.0\.weight'), 'shortcut.weight'),
    (re.compile(rf'downsample\.1\.{NORM}'), r'shortcut.norm.\1'),
)

#: A key of a residual block: stage number, block index, key inside the block.
BLOCK_KEY = re.compile(r'layer([1-4])\.(\d+)\.(.+)')

#: Keys every torchvision-style ResNet has: the stem and the first block of each stage.
RESNET_REQUIRED_KEYS = ('conv1.weight', 'bn1.weight',
                 *(f'layer{stage}.0.conv1.weight' for stage in range(1, 5)))


def detectron2_key(key: str) -> str:
    """The detectron2 name of a torchvision ResNet key.

    Args:
        key: A ResNet key without ``fc``, e.g. ``layer1.0.bn1.running_mean``.

    Returns:
        The detectron2 name, e.g. ``res2.0.conv1.norm.running_mean``.

    Raises:
        ValueError: If ``key`` is not a ResNet stem or residual block key.
    """
    block = BLOCK_KEY.fullmatch(key)
    if block is None:
        prefix, name, rules = 'stem.', key, STEM_RULES
    else:
        prefix, name, rules = f'res{int(block[1]) + 1}.{block[2]}.', block[3], BLOCK_RULES
    for pattern, template in rules:
        match = pattern.fullmatch(name)
        if match is not None:
            return prefix + match.expand(template)
    raise ValueError(f'{key!r} is not a ResNet backbone key')


def check_resnet_keys(weights: Dict[str, torch.Tensor], source: str) -> None:
    """Check that weights hold a whole torchvision-style ResNet (stem and four stages).

    Args:
        weights: Backbone weights with torchvision key names.
        source: Name of the input in error messages (usually its path).

    Raises:
        ValueError: If one of :data:`RESNET_REQUIRED_KEYS` is missing.
    """
    missing = [key for key in RESNET_REQUIRED_KEYS if key not in weights]
    if missing:
        raise ValueError(f'{source} lacks the ResNet keys {missing}; expected the weights of '
                         'a torchvision-style ResNet (stem and layer1-layer4)')


def resnet_weights(checkpoint: dict, source: str) -> Dict[str, torch.Tensor]:
    """The ResNet weights of an input, with torchvision key names.

    Args:
        checkpoint: A loaded extracted backbone (:func:`extract_backbone_file`), mmmoco
            checkpoint, or bare state dict of either.
        source: Name of the input in error messages (usually its path).

    Returns:
        The backbone weights: the state dict itself when it has torchvision names, else its
        ``backbone.*`` weights.

    Raises:
        ValueError: If the input holds neither, or not a whole ResNet.
    """
    state_dict = state_dict_of(checkpoint, source)
    if 'conv1.weight' in state_dict:
        weights = state_dict
    elif any(key.startswith('backbone.') for key in state_dict):
        weights = extract_backbone(checkpoint, 'backbone.', source)
    else:
        raise ValueError(f'{source} holds no ResNet weights; expected torchvision key names '
                         '(conv1.weight, layer1.0.conv1.weight, ... as extract_backbone.py '
                         f'writes) or an mmmoco checkpoint with backbone.* keys, '
                         f'{describe_keys(list(state_dict))}')
    check_resnet_keys(weights, source)
    return weights


def convert_to_detectron2(weights: Dict[str, torch.Tensor],
                          source: str = 'the weights') -> dict:
    """The detectron2 checkpoint of ResNet weights (the layout MoCo's release uses).

    Keys are renamed as ::

        conv1.weight                 -> stem.conv1.weight
        bn1.<p>                      -> stem.conv1.norm.<p>
        layerN.<b>.conv<i>.weight    -> res<N+1>.<b>.conv<i>.weight
        layerN.<b>.bn<i>.<p>         -> res<N+1>.<b>.conv<i>.norm.<p>
        layerN.<b>.downsample.0.*    -> res<N+1>.<b>.shortcut.*
        layerN.<b>.downsample.1.<p>  -> res<N+1>.<b>.shortcut.norm.<p>

    Args:
        weights: Backbone weights with torchvision key names (no ``fc``).
        source: Name of the input in error messages (usually its path).

    Returns:
        ``dict(model=..., __author__='MOCO', matching_heuristics=True)``, ``model`` mapping
        detectron2 names to numpy arrays, without ``num_batches_tracked``.

    Raises:
        ValueError: If a key is not a ResNet backbone key (the message lists them).
    """
    model: Dict[str, np.ndarray] = {}
    unknown: List[str] = []
    for key, value in weights.items():
        if key.endswith('.num_batches_tracked'):
            continue
        try:
            model[detectron2_key(key)] = value.detach().cpu().numpy()
        except ValueError:
            unknown.append(key)
    if unknown:
        raise ValueError(f'{source}: {len(unknown)} keys are not ResNet backbone keys, e.g. '
                         f'{unknown[:5]}; expected torchvision ResNet keys without fc')
    return dict(model=model, __author__='MOCO', matching_heuristics=True)


def convert_to_detectron2_file(src: str, dst: str, force: bool = False) -> int:
    """Write the ResNet weights of a file as a detectron2 ``.pkl``.

    Args:
        src: An extracted backbone or an mmmoco checkpoint file (see :func:`resnet_weights`).
        dst: The output ``.pkl``.
        force: Replace an existing ``dst``.

    Returns:
        The number of arrays written.

    Raises:
        FileExistsError: If ``dst`` exists and ``force`` is False (checked before reading).
        ValueError: If ``src`` holds no whole ResNet.
    """
    check_output_path(dst, force)
    checkpoint = load_checkpoint_file(src)
    converted = convert_to_detectron2(resnet_weights(checkpoint, src), src)
    write_atomically(dst, lambda file: pickle.dump(converted, file), force)
    return len(converted['model'])


# ------------------------------------------------------------------------------ timm / DeiT


#: The keys of a timm ``VisionTransformer`` with a class token and without a head.
TIMM_VIT_KEY = re.compile(
    r'cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
    r'|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)')

#: Keys every exported ViT has.
VIT_REQUIRED_KEYS = ('cls_token', 'pos_embed', 'patch_embed.proj.weight',
                 'blocks.0.attn.qkv.weight', 'norm.weight')


def check_vit_keys(weights: Dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights that are not exactly a head-less timm ViT's.

    Args:
        weights: Backbone weights.
        source: Name of the input in error messages (usually its path).

    Raises:
        ValueError: If a required key is missing or a key is not a timm ViT key.
    """
    missing = [key for key in VIT_REQUIRED_KEYS if key not in weights]
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


def export_timm_file(src: str, dst: str, prefix: str = 'backbone.',
                     force: bool = False) -> int:
    """Write the ViT backbone of a file as a timm / DeiT ``dict(model=..., meta=...)``.

    Args:
        src: An mmmoco ViT checkpoint, an extracted ViT backbone or an official moco-v3 ViT
            checkpoint file (see :func:`vit_weights`).
        dst: The output ``.pth``.
        prefix: Prefix of the backbone's keys in an mmmoco checkpoint.
        force: Replace an existing ``dst``.

    Returns:
        The number of tensors written.

    Raises:
        FileExistsError: If ``dst`` exists and ``force`` is False (checked before reading).
        ValueError: If ``src`` holds no ViT backbone with timm key names.
    """
    check_output_path(dst, force)
    checkpoint = load_checkpoint_file(src)
    weights = vit_weights(checkpoint, prefix, src)
    save_checkpoint(dict(model=weights, meta=export_meta(checkpoint, src)), dst, force)
    return len(weights)
