"""Argument checks for configs, modules, transforms and optimizers (a leaf: imports nothing of
mmmoco). Every error names the argument, as the caller spells it (``'queue queue_len'``,
``'ColorJitter: prob'``), and the value it got."""
import math
from numbers import Real
from typing import Dict, Sequence, Tuple, Union


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (bools are not numbers here).

    Args:
        value: Anything.

    Returns:
        True for ints and floats (and other ``numbers.Real``), False for bools and the rest.
    """
    return isinstance(value, Real) and not isinstance(value, bool)


def check_positive_int(value, name: str) -> int:
    """Return ``value`` if it is an int >= 1.

    Args:
        value: The value to check.
        name: Its name, for the message.

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
    """Return ``value`` as a float if it is a finite number > 0.

    Args:
        value: The value to check (e.g. a temperature).
        name: Its name, for the message.

    Returns:
        The value as a float.

    Raises:
        TypeError: If it is not a number.
        ValueError: If it is not finite or not > 0.
    """
    if not is_number(value):
        raise TypeError(f'{name} must be a number > 0, got {value!r} ({type(value).__name__})')
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be finite and > 0, got {value}')
    return float(value)


def check_unit_interval(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite number in [0, 1] (a momentum, a rate).

    Args:
        value: The value to check.
        name: Its name, for the message.

    Returns:
        The value as a float.

    Raises:
        TypeError: If it is not a number.
        ValueError: If it is not finite or outside [0, 1].
    """
    if not is_number(value):
        raise TypeError(f'{name} must be a number in [0, 1], got {value!r}')
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f'{name} must be a finite number in [0, 1], got {value}')
    return float(value)


def check_prob(value, name: str) -> float:
    """Return a probability as a float if it lies in [0, 1].

    Args:
        value: The probability.
        name: Its name, for the message (``'GaussianBlur: prob'``).

    Returns:
        The probability.

    Raises:
        ValueError: If it is not a number in [0, 1].
    """
    if not is_number(value) or not 0 <= value <= 1:
        raise ValueError(f'{name} must be a number in [0, 1], got {value!r}')
    return float(value)


def check_non_negative(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite number >= 0.

    Args:
        value: The value.
        name: Its name, for the message.

    Returns:
        The value as a float.

    Raises:
        ValueError: If it is not a finite number >= 0.
    """
    if not is_number(value) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f'{name} must be a finite non-negative number, got {value!r}')
    return float(value)


def check_positive_range(value: Sequence[float], name: str) -> Tuple[float, float]:
    """Return a (low, high) pair as floats if 0 < low <= high.

    Args:
        value: The pair.
        name: Its name, for the message.

    Returns:
        The pair as a tuple of floats.

    Raises:
        ValueError: If it is not such a pair.
    """
    if (not isinstance(value, Sequence) or len(value) != 2
            or not all(is_number(v) for v in value) or not 0 < value[0] <= value[1]):
        raise ValueError(f'{name} must be a pair (low, high) with 0 < low <= high, '
                         f'got {value!r}')
    return float(value[0]), float(value[1])


def check_size(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """Return an image size given as an int (square) or as (height, width) as a pair.

    Args:
        value: The size.
        name: Its name, for the message.

    Returns:
        The size as (height, width).

    Raises:
        ValueError: If it is not a positive int or a pair of them.
    """
    pair = (value, value) if isinstance(value, int) else value
    if (not isinstance(pair, Sequence) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)):
        raise ValueError(f'{name} must be a positive int or a pair (height, width) of '
                         f'positive ints, got {value!r}')
    return pair[0], pair[1]


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
