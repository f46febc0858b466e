"""Per-sample augmentation seeds: randomness that depends on the sample, not on the worker.

:class:`SampleSeedSampler` wraps the train sampler and hands every index to the dataset as a
:class:`SeededIndex`, whose seed is ``(run seed, epoch, rank, position in the rank's epoch)``.
A dataset that accepts such items (``accepts_seeded_indices = True``) seeds ``np.random`` and
``random`` from it around the pipeline (:func:`seeded_generators`), so a sample augments the
same whichever worker loads it, with 0 or N workers, persistent or not, and after a resume.
"""
import contextlib
import hashlib
import itertools
import random
import struct
from typing import Iterator, NamedTuple, Optional, Sized, Tuple, Union

import numpy as np
from mmengine.dist import get_rank, sync_random_seed
from torch.utils.data import Sampler, get_worker_info

from mmmoco.registry import DATA_SAMPLERS


class SeededIndex(NamedTuple):
    """A dataset index with the seed of its sample's augmentation.

    Attributes:
        index: The dataset index.
        seed: Ints in ``[0, 2**64)``, hashed by :func:`seeded_generators`.
    """

    index: int
    seed: Tuple[int, ...]


@contextlib.contextmanager
def seeded_generators(seed: Tuple[int, ...]) -> Iterator[None]:
    """Seed ``np.random`` and ``random`` from ``seed`` for the block.

    ``seed`` is hashed (BLAKE2b) into 32 bits for ``np.random`` (the most its legacy
    ``seed`` takes from an int) and 64 bits for ``random``. In the main process (0 workers)
    both generators are restored after the block, so that loading a sample has no side effect
    there; a data loader worker's generators serve only its samples and are left seeded
    (restoring costs about ten times as much as seeding). torch's generator is left alone:
    transforms draw from ``np.random`` or ``random`` only.

    Args:
        seed: Ints in ``[0, 2**64)``.

    Yields:
        Nothing; the generators are seeded inside the block.
    """
    digest = hashlib.blake2b(struct.pack(f'<{len(seed)}Q', *seed), digest_size=12).digest()
    saved = (np.random.get_state(), random.getstate()) if get_worker_info() is None else None
    np.random.seed(int.from_bytes(digest[:4], 'little'))
    random.seed(int.from_bytes(digest[4:], 'little'))
    try:
        yield
    finally:
        if saved is not None:
            np.random.set_state(saved[0])
            random.setstate(saved[1])


@DATA_SAMPLERS.register_module()
class SampleSeedSampler(Sampler):
    """Yield the indices of another sampler as :class:`SeededIndex` items.

    The seed of the item at ``position`` of this rank's epoch is ``(seed, epoch, rank,
    position)``: distinct per epoch, rank and position, and independent of the data loader
    workers. :class:`~mmmoco.engine.runner.ExactResumeEpochBasedTrainLoop` puts this wrapper
    around the configured train sampler (e.g. mmengine's ``DefaultSampler``). If the dataset
    does not accept seeded items (no true ``accepts_seeded_indices``), the plain indices are
    yielded and ``seeded`` is False.

    Args:
        sampler: The wrapped sampler's config (built with ``dataset`` and ``seed``).
        dataset: The dataset.
        seed: The run's seed; None takes the wrapped sampler's ``seed``, or a seed shared by
            all ranks.
    """

    def __init__(self, sampler: dict, dataset: Sized, seed: Optional[int] = None) -> None:
        if not isinstance(sampler, dict):
            raise TypeError(f'SampleSeedSampler: sampler must be a sampler config dict, got '
                            f'{sampler!r}')
        self.sampler = DATA_SAMPLERS.build(sampler, default_args=dict(dataset=dataset,
                                                                      seed=seed))
        self.seeded = bool(getattr(dataset, 'accepts_seeded_indices', False))
        if seed is None:
            seed = getattr(self.sampler, 'seed', None)
        self._seed = sync_random_seed() if seed is None else seed
        self.rank = get_rank()
        self.epoch = 0
        self.start = 0

    @property
    def seed(self) -> int:
        """The run's seed (shared with the wrapped sampler, which shuffles with it)."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        self._seed = value
        if hasattr(self.sampler, 'seed'):
            self.sampler.seed = value

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Set the epoch (also of the wrapped sampler) and where its iteration begins.

        Args:
            epoch: The epoch.
            start: Skip the first ``start`` positions of the epoch (a mid-epoch resume);
                the positions, hence the seeds, of the rest stay as in the whole epoch.
        """
        if not isinstance(start, int) or start < 0:
            raise ValueError(f'SampleSeedSampler: start must be an int >= 0, got {start!r}')
        self.epoch, self.start = epoch, start
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Union[SeededIndex, int]]:
        """Iterate the rest of the epoch from position ``start``.

        Yields:
            :class:`SeededIndex` items (plain indices if ``seeded`` is False).
        """
        positions = itertools.islice(enumerate(self.sampler), self.start, None)
        if not self.seeded:
            yield from (index for _, index in positions)
            return
        run_seed = self.seed % 2**64
        for position, index in positions:
            yield SeededIndex(index, (run_seed, self.epoch, self.rank, position))

    def __len__(self) -> int:
        """The length of the whole epoch (``start`` ignored), as the loop counts iterations."""
        return len(self.sampler)


def with_sample_seeds(dataloader: dict) -> dict:
    """Wrap the sampler of a dataloader config in :class:`SampleSeedSampler`.

    A config whose sampler is already a built object, or that has a ``batch_sampler`` (which
    may read the indices), is returned unchanged, as is one already seeded.

    Args:
        dataloader: The dataloader config.

    Returns:
        A copy with ``sampler=dict(type='mmmoco.SampleSeedSampler', sampler=<the original>)``,
        or ``dataloader`` itself.
    """
    sampler = dataloader.get('sampler')
    if (not isinstance(sampler, dict) or dataloader.get('batch_sampler') is not None
            or sampler.get('type') in ('SampleSeedSampler', 'mmmoco.SampleSeedSampler',
                                       SampleSeedSampler)):
        return dataloader
    return {**dataloader, 'sampler': dict(type='mmmoco.SampleSeedSampler', sampler=sampler)}
