"""Reading checkpoints for the runner: safely, strictly (keys, shapes, dtype kinds, finite
values), and finding the one to resume."""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Callable, Mapping, Optional, Sequence, Tuple, Union

from mmengine.device import get_device
from mmengine.logging import print_log
from torch import nn

from mmmoco.utils.checkpoint import (format_mismatch, list_checkpoints, load_checkpoint_file,
                                     state_dict_mismatch)
from mmmoco.utils.state_values import check_loaded_values


def read_checkpoint(filename: str, map_location: Union[str, Callable] = 'cpu') -> dict:
    """Read a checkpoint as data (weights-only allow-list); never parse a config stored in it.

    Args:
        filename: Checkpoint path.
        map_location: Where to put the tensors; 'default' is the current device.

    Returns:
        The checkpoint dict.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is empty, truncated, not a checkpoint or untrusted; the message
            names the file and the cause (also written to the log).
    """
    if map_location == 'default':
        map_location = get_device()
    try:
        checkpoint = load_checkpoint_file(filename, map_location=map_location)
    except (OSError, ValueError) as error:
        print_log(str(error), logger='current', level=logging.ERROR)
        raise
    meta = checkpoint.get('meta')
    if isinstance(meta, dict) and 'config' in meta:
        print_log(f"{filename}: ignoring the field meta['config'] (a config stored in a "
                  'checkpoint is never parsed or executed)', logger='current',
                  level=logging.WARNING)
    return checkpoint


def load_state_dict_checked(model: nn.Module, checkpoint: Mapping, filename: str,
                            strict: bool = True,
                            revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), ),
                            hint: str = '') -> None:
    """Load a checkpoint's ``state_dict`` into ``model``, naming every mismatch.

    A missing ``num_batches_tracked`` counter of a BN layer is not counted as a mismatch (as in
    mmengine).

    Args:
        model: The (unwrapped) model.
        checkpoint: The checkpoint dict (with a ``state_dict`` entry, or a state dict itself).
        filename: Its path, for messages.
        strict: Stop on any missing, unexpected or misshapen key. If False, load the matching
            weights and log the others as a warning (still an error if nothing matches).
        revise_keys: ``(pattern, replacement)`` pairs applied to the checkpoint's keys.
        hint: Appended to the error of a strict mismatch (what the user can do).

    Raises:
        ValueError: On a mismatch when ``strict``, or if no weight matches at all; the
            message (also in the work-dir log) names the file and the keys with both shapes.
            Also for a tensor of another dtype kind than the model's (int into float) or
            with NaN/Inf values, naming the keys (a precision change is logged).
    """
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError(f"{filename}: 'state_dict' is a {type(state).__name__}, not a dict of "
                         'tensors')
    for pattern, replacement in revise_keys:
        state = {re.sub(pattern, replacement, key): value for key, value in state.items()}
    expected = model.state_dict()
    missing, unexpected, misshapen = state_dict_mismatch(expected, state)
    missing = [key for key in missing if not key.endswith('num_batches_tracked')]
    if missing or unexpected or misshapen:
        report = format_mismatch(filename, missing, unexpected, misshapen)
        matched = sum(key in expected for key in state) - len(misshapen)
        if strict or matched <= 0:
            message = report + ('\nno weight of the file matches the model' if matched <= 0
                                else hint)
            print_log(message, logger='current', level=logging.ERROR)
            raise ValueError(message)
        print_log(report + f'\nload_from_strict=False: loading the {matched} matching weights '
                  'only; the others keep their initialisation', logger='current',
                  level=logging.WARNING)
        bad = {line.split(':')[0] for line in misshapen}
        state = {key: value for key, value in state.items() if key in expected and key not in bad}
    check_loaded_values(expected, state, filename)
    model.load_state_dict(state, strict=False)


def is_complete_checkpoint(path: str) -> bool:
    """Whether a file looks like a complete torch checkpoint (a readable zip archive).

    Only the archive's directory at the end of the file is read, so it is cheap.

    Args:
        path: The file.

    Returns:
        True for a non-empty file with an intact zip directory.
    """
    return osp.isfile(path) and osp.getsize(path) > 0 and zipfile.is_zipfile(path)


def recorded_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in a work dir's ``last_checkpoint``, which must lie inside it.

    Args:
        work_dir: The work dir.

    Returns:
        The named path (relative names are taken in the work dir), or None without a
        ``last_checkpoint``.

    Raises:
        ValueError: If the named file lies outside the work dir (a work dir copied from
            another run, or another run's record); the message says how to go on.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record, encoding='utf-8') as f:
        named = f.read().strip()
    if not named:
        print_log(f'{record} is empty; looking for the newest checkpoint in the work dir',
                  logger='current', level=logging.WARNING)
        return None
    recorded = osp.join(work_dir, named)
    inside = osp.realpath(work_dir) + os.sep
    if not osp.realpath(recorded).startswith(inside):
        message = (f'{record} names {recorded}, outside this work dir (a work dir copied from '
                   "another run, or another run's record?). To continue from that file, give "
                   f'it: --resume {recorded}; to continue from the newest checkpoint of this '
                   f'work dir, remove {record}')
        print_log(message, logger='current', level=logging.ERROR)
        raise ValueError(message)
    return recorded


def _recorded_iteration(path: str) -> Optional[int]:
    """The iteration stored in a checkpoint's meta, or None (with a warning naming the file)
    for an incomplete, unreadable or non-training checkpoint."""
    if not is_complete_checkpoint(path):
        print_log(f'--resume: skipping {path}: empty or truncated (an interrupted save?)',
                  logger='current', level=logging.WARNING)
        return None
    try:
        meta = load_checkpoint_file(path, mmap=True).get('meta')
    except ValueError as error:
        print_log(f'--resume: skipping {error}', logger='current', level=logging.WARNING)
        return None
    iteration = meta.get('iter') if isinstance(meta, dict) else None
    if not isinstance(iteration, int):
        print_log(f'--resume: skipping {path}: not a training checkpoint (no meta.iter)',
                  logger='current', level=logging.WARNING)
        return None
    return iteration


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    Among the ``epoch_*.pth`` / ``iter_*.pth`` files of the work dir and the file named in
    ``last_checkpoint`` (which must lie inside the work dir), the complete one with the
    highest iteration recorded in it; on a tie an epoch checkpoint, then the recorded one.
    File times are not used: a work dir copied with ``cp`` has new ones, in copy order.
    Incomplete or unreadable files are skipped with a warning.

    Args:
        work_dir: The work dir.

    Returns:
        The checkpoint's path, or None if the work dir holds no checkpoint at all (no
        ``last_checkpoint`` either): a first start.

    Raises:
        ValueError: If ``last_checkpoint`` names a file outside the work dir.
        FileNotFoundError: If there are checkpoints but none is complete and readable.
    """
    candidates = list_checkpoints(work_dir)
    recorded = recorded_checkpoint(work_dir)
    if recorded is not None:
        if osp.isfile(recorded):
            candidates.append(recorded)
        else:
            print_log(f'{work_dir}/last_checkpoint names {recorded!r}, which does not exist; '
                      'looking for the newest checkpoint in the work dir', logger='current',
                      level=logging.WARNING)
    if not candidates and recorded is None:
        return None
    ranked = []
    for path in sorted(set(candidates)):
        iteration = _recorded_iteration(path)
        if iteration is not None:
            ranked.append(((iteration, osp.basename(path).startswith('epoch_'),
                            path == recorded), path))
    if not ranked:
        raise FileNotFoundError(
            f'--resume: no complete checkpoint to resume from in {work_dir} (the files there '
            'are incomplete or unreadable, see the warnings). Give the checkpoint path '
            '(--resume PATH) or the right --work-dir')
    (iteration, _, _), path = max(ranked)
    print_log(f'--resume: continuing from {path}, the highest iteration ({iteration}) recorded '
              f'among {len(ranked)} complete checkpoint(s) in the work dir', logger='current')
    return path


def refuse_checkpoint_overwrite(work_dir: str) -> None:
    """Stop a fresh run that would overwrite the checkpoints of another run.

    Args:
        work_dir: The work dir of the new run.

    Raises:
        FileExistsError: If the work dir holds ``epoch_*.pth`` / ``iter_*.pth`` files or a
            ``last_checkpoint``; the message lists the ways out.
    """
    found = [osp.basename(path) for path in list_checkpoints(work_dir)]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.append('last_checkpoint')
    if found:
        raise FileExistsError(
            f'{work_dir} already holds checkpoints of an earlier run ({", ".join(found[:5])}); '
            'a new run would overwrite them. Use --resume to continue that run, another '
            '--work-dir, or --cfg-options overwrite_checkpoints=True to overwrite them')
