"""Save and restore the random state, so that a resumed run continues exactly."""
import logging
import random
from typing import Any, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmmoco.registry import HOOKS


def capture_random_state() -> dict:
    """Snapshot python's, numpy's and torch's (CPU and CUDA) random generators.

    Only tensors, ints, floats and tuples are stored, so the snapshot loads with
    ``torch.load(weights_only=True)``.

    Returns:
        The random state.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=(kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
               float(cached)),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    """Restore a snapshot taken by :func:`capture_random_state`.

    Args:
        state: The snapshot.
    """
    random.setstate(state['python'])
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    # resume may have mapped the checkpoint onto the GPU; generator states live on the CPU
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda'][:torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Carry the random generators and the train sampler's seed through checkpoints.

    mmengine resumes weights, optimizer, schedulers and counters but not the random state:
    after a resume the data augmentation, the data order (when no seed is configured) and
    Shuffle BN's permutations would differ from the uninterrupted run. This hook stores them in
    ``checkpoint['random_state']`` and restores them just before training restarts (after
    mmengine's own re-seeding on resume, hence the lowest priority).

    Every rank's generators are stored (``ranks``, gathered from all processes just before a
    save by :meth:`gather_before_save`, which :class:`~mmmoco.engine.runner.MoCoRunner` calls on
    every rank): with ``num_workers=0`` the ranks augment in their main processes and their
    numpy/python generators drift apart (RandomResizedCrop draws until a crop fits). Resumed
    with the same number of processes, each rank gets its own state back; with a different
    number, every rank gets rank 0's and a warning says the run is no longer bit-identical.

    Besides the current state, each rank's state at the start of the current epoch (before its
    data loader iterator was created) is stored when the train loop provides it
    (``runner.train_loop.epoch_start_random_state``), and handed back to the loop on resume
    (``resumed_epoch_start_state``), so that a mid-epoch (iteration) checkpoint can replay the
    epoch's data stream up to where it stopped. The loop provides it only for datasets that
    take plain indices: with per-sample seeds (:class:`~mmmoco.datasets.SampleSeedSampler`)
    the augmentations follow from the sampler's seed, which is stored here as well.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._gathered: Optional[List[dict]] = None

    @staticmethod
    def _local_state(runner) -> dict:
        loop = getattr(runner, 'train_loop', None)
        return dict(generators=capture_random_state(),
                    epoch_start=getattr(loop, 'epoch_start_random_state', None))

    def gather_before_save(self, runner) -> None:
        """Collect every rank's random state for the checkpoint about to be saved.

        Must be called on all ranks (it is a collective under DDP).

        Args:
            runner: The mmengine runner.
        """
        local = self._local_state(runner)
        if get_world_size() > 1:
            gathered: List[Any] = [None] * get_world_size()
            dist.all_gather_object(gathered, local)
            self._gathered = gathered
        else:
            self._gathered = [local]

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the random states and the sampler seed to a checkpoint being saved.

        Args:
            runner: The mmengine runner.
            checkpoint: The checkpoint dict.
        """
        ranks = self._gathered if self._gathered is not None else [self._local_state(runner)]
        self._gathered = None
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        checkpoint['random_state'] = dict(generators=ranks[0]['generators'], ranks=ranks,
                                          sampler_seed=getattr(sampler, 'seed', None))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the loaded random state until training restarts.

        Args:
            runner: The mmengine runner.
            checkpoint: The loaded checkpoint dict.
        """
        self._pending = checkpoint.get('random_state')

    def before_train(self, runner) -> None:
        """Restore the random state and sampler seed of a resumed checkpoint.

        A checkpoint loaded only for its weights (``load_from`` without resume) leaves the
        iteration counter at 0 and the random state alone.

        Args:
            runner: The mmengine runner.
        """
        pending, self._pending = self._pending, None
        if pending is None or runner.iter == 0:
            return
        ranks = pending.get('ranks') or [dict(generators=pending['generators'],
                                              epoch_start=None)]
        world_size, rank = get_world_size(), get_rank()
        if len(ranks) == world_size:
            state = ranks[rank]
        else:
            state = ranks[0]
            print_log(f'RandomStateHook: the checkpoint holds the random state of {len(ranks)} '
                      f'process(es), this run has {world_size}; every rank resumes from '
                      "rank 0's state, so the resumed run is not bit-identical",
                      logger='current', level=logging.WARNING)
        restore_random_state(state['generators'])
        loop = getattr(runner, 'train_loop', None)
        if hasattr(loop, 'resumed_epoch_start_state'):
            loop.resumed_epoch_start_state = state.get('epoch_start')
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if pending.get('sampler_seed') is not None and hasattr(sampler, 'seed'):
            sampler.seed = pending['sampler_seed']
