"""Loading checkpoints with torch's ``weights_only=True`` safety kept on.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which refuses any
class it does not know. mmengine 0.10.7 checkpoints hold its ``HistoryBuffer`` (log history in
the message hub) with numpy arrays and numpy scalars, so they fail to load as they are. Instead
of switching the safety off, we allow-list exactly those classes, only while a checkpoint is
being loaded. Anything else in a checkpoint (arbitrary objects, code) is still refused.
"""
import contextlib
import os
import pickle
import re
import zipfile
from typing import Iterator, List, Mapping, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_statistic(owner: type, name: str):
    """A stand-in for ``getattr`` that only reaches HistoryBuffer's statistic methods.

    A ``HistoryBuffer`` pickles its dict of statistic methods as ``getattr(HistoryBuffer,
    'mean')``. Allow-listing the real ``getattr`` would let a malicious checkpoint reach any
    attribute of any allowed object (and from there, code), so the unpickler is given this
    function under the name ``builtins.getattr`` instead.

    Args:
        owner: The object whose attribute is requested; must be ``HistoryBuffer``.
        name: The attribute; must be one of :data:`HISTORY_BUFFER_STATISTICS`.

    Returns:
        The requested statistic method.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if owner is not HistoryBuffer or name not in HISTORY_BUFFER_STATISTICS:
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer statistic '
            f'methods {sorted(HISTORY_BUFFER_STATISTICS)} are allowed')
    return getattr(owner, name)


def trusted_checkpoint_globals() -> List[object]:
    """The globals an mmengine 0.10.7 training checkpoint needs beyond tensors and containers.

    Returns:
        The allow-list: mmengine's ``HistoryBuffer`` (message hub log history), the numpy
        functions and types that rebuild its arrays and scalars, and the restricted
        ``getattr`` of :func:`history_buffer_statistic`.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        # dtype objects are rebuilt through their classes (numpy >= 1.25): HistoryBuffer holds
        # float64 values and int64 counts.
        type(np.dtype(np.float64)),
        type(np.dtype(np.int64)),
        multiarray._reconstruct,
        multiarray.scalar,
        (history_buffer_statistic, 'builtins.getattr'),
    ]


@contextlib.contextmanager
def allow_mmengine_checkpoints() -> Iterator[None]:
    """Context in which ``torch.load(weights_only=True)`` accepts mmengine checkpoints.

    Yields:
        Nothing; the allow-list is active inside the ``with`` block only.
    """
    with torch.serialization.safe_globals(trusted_checkpoint_globals()):
        yield


def load_checkpoint_file(path: str, map_location: str = 'cpu', mmap: bool = False) -> dict:
    """Load a checkpoint file safely (``weights_only=True`` plus the mmengine allow-list).

    Args:
        path: Path of the checkpoint.
        map_location: Where to put the tensors.
        mmap: Memory-map the tensors instead of reading them (cheap when only the counters
            and other small entries are needed).

    Returns:
        The checkpoint dict.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is empty, truncated, not a torch checkpoint, not a dict, or
            holds objects outside the allow-list (an untrusted or foreign checkpoint); the
            message names the file and the cause.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist (or is not a file)')
    with allow_mmengine_checkpoints():
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True,
                                    mmap=mmap)
        except Exception as error:  # unpickling errors come in many types
            raise ValueError(describe_unreadable_checkpoint(path, error)) from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f'checkpoint {path!r} holds a {type(checkpoint).__name__}, '
                         'expected a dict')
    return checkpoint


def describe_unreadable_checkpoint(path: str, error: BaseException) -> str:
    """Explain why a checkpoint file could not be read, naming the file.

    Args:
        path: The checkpoint path.
        error: The exception raised while reading it.

    Returns:
        One sentence: the file, its size and the likely cause (empty, truncated, not a torch
        checkpoint, or objects outside the weights-only allow-list).
    """
    size = os.path.getsize(path) if os.path.isfile(path) else -1
    head = _first_bytes(path, 4)
    if size == 0:
        cause = 'the file is empty (0 bytes)'
    elif head != ZIP_MAGIC and not head.startswith(PICKLE_PROTO):
        cause = 'it is not a torch checkpoint (neither a zip archive nor a pickle)'
    elif head == ZIP_MAGIC and not zipfile.is_zipfile(path):
        cause = 'it is truncated (an incomplete zip archive, e.g. from an interrupted save)'
    elif isinstance(error, pickle.UnpicklingError) or 'weights_only' in str(error):
        cause = ('it holds objects outside the weights-only allow-list (an untrusted or '
                 'foreign checkpoint)')
    else:
        cause = 'it is not a torch checkpoint (or it is damaged)'
    return (f'cannot load checkpoint {path!r} ({size} bytes): {cause} '
            f'[{type(error).__name__}: {str(error)[:300]}]')


#: How a torch checkpoint starts: a zip archive (torch >= 1.6) or a pickle (older torch).
ZIP_MAGIC = b'PK\x03\x04'
PICKLE_PROTO = b'\x80'


def _first_bytes(path: str, count: int) -> bytes:
    """The first ``count`` bytes of a file (empty if it cannot be read)."""
    try:
        with open(path, 'rb') as f:
            return f.read(count)
    except OSError:
        return b''


def state_dict_mismatch(expected: Mapping[str, torch.Tensor],
                        loaded: Mapping[str, object]) -> Tuple[List[str], List[str], List[str]]:
    """Compare a model's state dict with one read from a checkpoint.

    Args:
        expected: The model's own state dict.
        loaded: The state dict from the checkpoint.

    Returns:
        The missing keys (in the model, not in the checkpoint), the unexpected keys (in the
        checkpoint only), and ``'key: checkpoint shape vs model shape'`` for every key whose
        shapes differ (or whose checkpoint value is not a tensor).
    """
    missing = [key for key in expected if key not in loaded]
    unexpected = [key for key in loaded if key not in expected]
    misshapen = []
    for key, value in expected.items():
        if key not in loaded:
            continue
        other = loaded[key]
        if not isinstance(other, torch.Tensor):
            misshapen.append(f'{key}: {type(other).__name__} (not a tensor) vs '
                             f'{tuple(value.shape)}')
        elif other.shape != value.shape:
            misshapen.append(f'{key}: {tuple(other.shape)} vs {tuple(value.shape)}')
    return missing, unexpected, misshapen


def format_mismatch(path: str, missing: List[str], unexpected: List[str],
                    misshapen: List[str], limit: int = 20) -> str:
    """A readable report of :func:`state_dict_mismatch`'s lists.

    Args:
        path: The checkpoint the state dict came from.
        missing: Keys of the model absent from the checkpoint.
        unexpected: Keys of the checkpoint the model does not have.
        misshapen: ``'key: checkpoint shape vs model shape'`` lines.
        limit: At most this many keys are listed per kind.

    Returns:
        A multi-line message naming the file and the offending keys.
    """
    lines = [f'the weights in {path!r} do not match the model:']
    for title, keys in (('missing from the checkpoint', missing),
                        ('unexpected (not in the model)', unexpected),
                        ('shape mismatch (checkpoint vs model)', misshapen)):
        if keys:
            more = f' ... and {len(keys) - limit} more' if len(keys) > limit else ''
            lines.append(f'  {len(keys)} {title}: {", ".join(keys[:limit])}{more}')
    return '\n'.join(lines)


CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def list_checkpoints(folder: str) -> List[str]:
    """The ``epoch_N.pth`` / ``iter_N.pth`` checkpoints in a folder, newest first.

    Newest means the latest modification time (an atomic save sets it when the file is
    complete); ties are broken by the number in the name. Temporary files of unfinished
    saves are ignored.

    Args:
        folder: The folder (a work dir).

    Returns:
        The paths, newest first; empty if the folder does not exist.
    """
    if not os.path.isdir(folder):
        return []
    found = []
    for entry in os.scandir(folder):
        match = CHECKPOINT_NAME.match(entry.name)
        if match and entry.is_file():
            found.append((entry.stat().st_mtime_ns, int(match.group(2)), entry.path))
    return [path for _, _, path in sorted(found, reverse=True)]
