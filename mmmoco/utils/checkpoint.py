"""Loading checkpoints with torch's ``weights_only=True`` safety kept on.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which refuses any
class it does not know. mmengine 0.10.7 checkpoints hold its ``HistoryBuffer`` (log history in
the message hub) with numpy arrays and numpy scalars, so they fail to load as they are. Instead
of switching the safety off, we allow-list exactly those classes, only while a checkpoint is
being loaded. Anything else in a checkpoint (arbitrary objects, code) is still refused.
"""
import contextlib
from typing import Iterator, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def trusted_checkpoint_globals() -> List[object]:
    """The classes and functions an mmengine 0.10.7 training checkpoint needs beyond tensors.

    Returns:
        The allow-list: mmengine's ``HistoryBuffer`` and what numpy needs to rebuild the
        arrays and scalars it holds.
    """
    multiarray = np.core.multiarray if hasattr(np, 'core') else np._core.multiarray
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        type(np.dtype(np.float64)),
        type(np.dtype(np.float32)),
        type(np.dtype(np.int64)),
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
