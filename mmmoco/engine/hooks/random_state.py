"""Save and restore the random state, so that a resumed run continues exactly."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

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

    Checkpoints are written by rank 0 only, so this is rank 0's state. With mmengine's default
    ``randomness.diff_rank_seed=False`` every rank's generators are seeded alike and drawn
    alike (Shuffle BN's permutation, the loader's base seed), so rank 0's state is every
    rank's; data workers still augment differently per rank (``worker_init_from_torch_seed``
    mixes in the rank). With ``diff_rank_seed=True`` the other ranks resume from rank 0's
    state and the resumed run is no longer bit-identical.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the random state and the sampler seed to a checkpoint being saved.

        Args:
            runner: The mmengine runner.
            checkpoint: The checkpoint dict.
        """
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        checkpoint['random_state'] = dict(generators=capture_random_state(),
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
        if self._pending is None or runner.iter == 0:
            self._pending = None
            return
        restore_random_state(self._pending['generators'])
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if self._pending['sampler_seed'] is not None and hasattr(sampler, 'seed'):
            sampler.seed = self._pending['sampler_seed']
        self._pending = None
