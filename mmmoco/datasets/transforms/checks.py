"""Validation of transform arguments; each error names the transform and the argument."""
from numbers import Real
from typing import Sequence, Tuple, Union


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_prob(owner: str, prob: float) -> float:
    """Check that a probability lies in [0, 1].

    Args:
        owner: The transform's name, used in the error message.
        prob: The probability to check.

    Returns:
        ``prob`` as a float.
    """
    if not _is_number(prob) or not 0 <= prob <= 1:
        raise ValueError(f'{owner}: prob must be a number in [0, 1], got {prob!r}')
    return float(prob)


def check_non_negative(owner: str, name: str, value: float) -> float:
    """Check that a number is non-negative.

    Args:
        owner: The transform's name, used in the error message.
        name: The argument's name, used in the error message.
        value: The number to check.

    Returns:
        ``value`` as a float.
    """
    if not _is_number(value) or value < 0:
        raise ValueError(f'{owner}: {name} must be a non-negative number, got {value!r}')
    return float(value)


def check_positive_range(owner: str, name: str,
                         value: Sequence[float]) -> Tuple[float, float]:
    """Check that a (low, high) pair satisfies 0 < low <= high.

    Args:
        owner: The transform's name, used in the error message.
        name: The argument's name, used in the error message.
        value: The pair to check.

    Returns:
        The pair as a tuple of floats.
    """
    if (not isinstance(value, Sequence) or len(value) != 2
            or not all(_is_number(v) for v in value) or not 0 < value[0] <= value[1]):
        raise ValueError(f'{owner}: {name} must be a pair (low, high) with 0 < low <= high, '
                         f'got {value!r}')
    return float(value[0]), float(value[1])


def check_size(owner: str, size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Check an output size given as an int (square) or as (height, width).

    Args:
        owner: The transform's name, used in the error message.
        size: The size to check.

    Returns:
        The size as (height, width).
    """
    pair = (size, size) if isinstance(size, int) else size
    if (not isinstance(pair, Sequence) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)):
        raise ValueError(f'{owner}: size must be a positive int or a pair (height, width) of '
                         f'positive ints, got {size!r}')
    return pair[0], pair[1]
