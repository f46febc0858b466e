"""A ``train_cfg.max_epochs`` given on the command line carries the schedules with it.

The recipes end their cosine at the config's own ``max_epochs`` (``T_max=80, end=80``):
``--cfg-options train_cfg.max_epochs=83`` alone would keep the learning rate at its minimum
for the last 3 epochs (and ``max_epochs=40`` would stop halfway down the cosine). Epoch-based
schedulers whose ``end`` is the config's ``max_epochs`` end at the new one, and their
``T_max`` follows when it spans the scheduler; the change is logged. Keys given on the
command line themselves are left alone, and milestones (step schedules) are not rescaled: a
warning names them.
"""
import logging
from typing import Any, List, Mapping, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log


def _schedulers(cfg: Config) -> List[Tuple[str, Any]]:
    """The ``param_scheduler`` entries with their config keys."""
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, Mapping):
        return [('param_scheduler', schedulers)]
    return [(f'param_scheduler.{index}', scheduler) for index, scheduler in enumerate(schedulers)]


def follow_max_epochs(cfg: Config, original: Optional[int],
                      cfg_options: Mapping[str, Any]) -> List[str]:
    """Rescale the epoch-based schedulers that end at the config's own ``max_epochs`` to a
    ``train_cfg.max_epochs`` given in ``cfg_options``.

    Args:
        cfg: The config, after ``cfg_options`` were merged (changed in place).
        original: ``train_cfg.max_epochs`` before the merge.
        cfg_options: The ``--cfg-options`` dict (dotted keys).

    Returns:
        One ``'KEY: OLD -> NEW'`` line per rescaled value (also logged).
    """
    new = (cfg.get('train_cfg') or {}).get('max_epochs')
    if 'train_cfg.max_epochs' not in cfg_options or original is None or new == original:
        return []
    changes = []
    for where, scheduler in _schedulers(cfg):
        if not isinstance(scheduler, Mapping) or not scheduler.get('by_epoch', True):
            continue
        begin = scheduler.get('begin', 0)
        if begin >= new:  # starts after the new end (e.g. a cosine after a long warm-up)
            continue
        if scheduler.get('end') == original and f'{where}.end' not in cfg_options:
            scheduler['end'] = new
            changes.append(f'{where}.end: {original} -> {new}')
        span = scheduler.get('end', new) - begin
        if (scheduler.get('T_max') == original - begin != span
                and f'{where}.T_max' not in cfg_options):
            scheduler['T_max'] = span
            changes.append(f'{where}.T_max: {original - begin} -> {span}')
        if scheduler.get('milestones') and f'{where}.milestones' not in cfg_options:
            print_log(f'train_cfg.max_epochs={new} (the config says {original}): '
                      f'{where}.milestones={list(scheduler["milestones"])} are not rescaled; '
                      f'set {where}.milestones too if they should move', logger='current',
                      level=logging.WARNING)
    if changes:
        print_log(f'train_cfg.max_epochs={new} (the config says {original}): the schedule '
                  f'follows it: {", ".join(changes)}', logger='current')
    return changes
