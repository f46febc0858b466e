"""Checking the values of a state dict read from a file before they go into a model.

``Module.load_state_dict`` copies a tensor into a parameter of another dtype without a word:
an int64 ``conv1.weight`` becomes float weights that are whole numbers, and NaN or Inf values
load like any other. :func:`check_loaded_values` refuses both, naming the keys, and logs a
change of precision within a kind (float16 into float32), which is harmless but worth a line.
"""
import logging
from collections import Counter
from typing import Dict, List, Mapping, Tuple

import torch
from mmengine.logging import print_log

#: How many offending keys a message lists.
LISTED = 10


def dtype_kind(tensor: torch.Tensor) -> str:
    """The kind of a tensor's dtype.

    Args:
        tensor: Any tensor.

    Returns:
        'bool', 'complex', 'float' or 'int'.
    """
    if tensor.dtype == torch.bool:
        return 'bool'
    if tensor.is_complex():
        return 'complex'
    return 'float' if tensor.is_floating_point() else 'int'


def value_problems(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, object]
                   ) -> Tuple[List[str], List[str], Dict[Tuple[str, str], int]]:
    """Compare the dtypes of loaded tensors with a model's and find non-finite values.

    Keys missing from either side and non-tensor values are left to the key and shape checks.

    Args:
        expected: The model's state dict.
        loaded: The state dict read from a file.

    Returns:
        ``'key: DTYPE in the file, DTYPE in the model'`` for every tensor of another kind,
        ``'key (N NaN, M Inf)'`` for every floating-point tensor with non-finite values, and
        the number of tensors of each ``(file dtype, model dtype)`` pair that differ in
        precision only.
    """
    other_kind, non_finite, precision = [], [], Counter()
    for key, value in loaded.items():
        target = expected.get(key)
        if not isinstance(value, torch.Tensor) or not isinstance(target, torch.Tensor):
            continue
        if dtype_kind(value) != dtype_kind(target):
            other_kind.append(f'{key}: {value.dtype} in the file, {target.dtype} in the model')
            continue
        if value.dtype != target.dtype:
            precision[(str(value.dtype), str(target.dtype))] += 1
        if (value.is_floating_point() or value.is_complex()) and not bool(
                torch.isfinite(value).all()):
            non_finite.append(f'{key} ({int(torch.isnan(value).sum())} NaN, '
                              f'{int(torch.isinf(value).sum())} Inf)')
    return other_kind, non_finite, dict(precision)


def _listed(keys: List[str]) -> str:
    more = len(keys) - LISTED
    return '; '.join(keys[:LISTED]) + (f'; ... and {more} more' if more > 0 else '')


def check_loaded_values(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, object],
                        filename: str) -> None:
    """Refuse loaded tensors of another dtype kind or with NaN/Inf; log precision changes.

    Args:
        expected: The model's state dict.
        loaded: The state dict read from ``filename`` (the keys that will be loaded).
        filename: The file, for messages.

    Raises:
        ValueError: Naming the file and the keys (also logged as an error).
    """
    other_kind, non_finite, precision = value_problems(expected, loaded)
    problems = []
    if other_kind:
        problems.append(f'{len(other_kind)} tensor(s) of another dtype kind than the model\'s '
                        '(integer, floating-point, complex and boolean values are not converted '
                        f'into each other): {_listed(other_kind)}')
    if non_finite:
        problems.append(f'{len(non_finite)} tensor(s) with non-finite values: '
                        f'{_listed(non_finite)}; NaN/Inf weights give meaningless results, '
                        'use an earlier checkpoint')
    if problems:
        message = f'cannot load {filename}: ' + '\n'.join(problems)
        print_log(message, logger='current', level=logging.ERROR)
        raise ValueError(message)
    if precision:
        changes = ', '.join(f'{count} tensor(s) stored as {source} converted to the model\'s '
                            f'{target}' for (source, target), count in sorted(precision.items()))
        print_log(f'{filename}: {changes}', logger='current', level=logging.WARNING)
