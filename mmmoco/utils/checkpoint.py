"""Loading checkpoints with torch's ``weights_only=True`` safety kept on.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which refuses any
class it does not know. mmengine 0.10.7 checkpoints hold its ``HistoryBuffer`` (log history in
the message hub) with numpy arrays and numpy scalars, so they fail to load as they are. Instead
of switching the safety off, we allow-list exactly those classes, only while a checkpoint is
being loaded. Anything else in a checkpoint (arbitrary objects, code) is still refused.
"""
import contextlib
import pickle
from typing import Iterator, List

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


def load_checkpoint_file(path: str, map_location: str = 'cpu') -> dict:
    """Load a checkpoint file safely (``weights_only=True`` plus the mmengine allow-list).

    Args:
        path: Path of the checkpoint.
        map_location: Where to put the tensors.

    Returns:
        The checkpoint dict.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a checkpoint dict or holds objects outside the
            allow-list (an untrusted or foreign checkpoint); the message names the file.
    """
    with allow_mmengine_checkpoints():
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as error:  # unpickling errors come in many types
            raise ValueError(f'refusing to load checkpoint {path!r}: it holds objects outside '
                             f'the weights-only allow-list or is not a torch checkpoint '
                             f'({type(error).__name__}: {str(error)[:300]})') from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f'checkpoint {path!r} holds a {type(checkpoint).__name__}, '
                         'expected a dict')
    return checkpoint
