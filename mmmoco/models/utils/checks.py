"""Build-time checks of model hyper-parameters, with errors that name the config key."""
import math
from typing import Dict


def check_positive_int(value, name: str) -> int:
    """Return ``value`` if it is an int >= 1, else raise naming ``name``.

    Args:
        value: The value to check.
        name: Its config key, for the message.

    Returns:
        The value.

    Raises:
        TypeError: If it is not an int (bools are refused too).
        ValueError: If it is < 1.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int >= 1, got {value!r} ({type(value).__name__})')
    if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')
    return value


def check_positive_float(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise naming ``name``.

    Args:
        value: The value to check (e.g. a temperature).
        name: Its config key, for the message.

    Returns:
        The value as a float.

    Raises:
        TypeError: If it is not a number.
        ValueError: If it is not finite or not > 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number > 0, got {value!r} ({type(value).__name__})')
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be finite and > 0, got {value}')
    return float(value)


def check_embedding_dims(neck_channels: int, dims: Dict[str, int]) -> None:
    """Refuse modules whose embedding dimension differs from the neck's ``out_channels``.

    Args:
        neck_channels: The neck's ``out_channels``.
        dims: Config key -> the dimension it sets (e.g. ``{'queue.feat_dim': 128}``).

    Raises:
        ValueError: Naming the first key that differs.
    """
    for key, dim in dims.items():
        if dim != neck_channels:
            raise ValueError(f'model.{key}={dim} must equal model.neck.out_channels='
                             f'{neck_channels} (the embedding dimension)')
