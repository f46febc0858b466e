"""Shared by the converters: reading input state dicts, writing outputs atomically, and the
scripts' command line."""
import argparse
import contextlib
import os
import os.path as osp
import sys
import tempfile
from typing import BinaryIO, Callable, Dict, Iterator, List

import torch

from mmmoco.evaluation.features import with_progress

#: Prefix of the parameters of facebookresearch/moco's query encoder (MoCo v1/v2).
OFFICIAL_MOCO_PREFIX = 'module.encoder_q.'
#: Prefix of the parameters of facebookresearch/moco-v3's base (query) encoder.
OFFICIAL_MOCOV3_PREFIX = 'module.base_encoder.'
#: The steps of a file conversion that :func:`conversion_progress` counts.
CONVERSION_STEPS = ('read', 'convert', 'write')


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




@contextlib.contextmanager
def conversion_progress(src: str, dst: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr over a file conversion's steps (:data:`CONVERSION_STEPS`):
    reading the input, converting, writing the output. Without tqdm, no bar.

    Args:
        src: The input file.
        dst: The output file.

    Yields:
        ``step_done()``, to call after reading and after converting; the bar completes when
        the block ends.
    """
    bar = with_progress(CONVERSION_STEPS, f'{osp.basename(src)} -> {osp.basename(dst)}',
                        unit='step')
    steps = iter(bar)
    next(steps)
    try:
        yield lambda: next(steps)
        for _ in steps:  # the last step is done
            pass
    finally:
        if hasattr(bar, 'close'):
            bar.close()


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
