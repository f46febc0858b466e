"""Epoch-based training loop that resumes exactly mid-epoch, stops on non-finite values and
saves before a preemption, all ranks together."""
import logging
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from mmmoco.datasets.sample_seeds import with_sample_seeds
from mmmoco.engine.hooks.random_state import capture_random_state, restore_random_state
from mmmoco.registry import LOOPS
from mmmoco.utils import without_idle_persistent_workers
from mmmoco.utils.distributed import gather_first_report, max_over_ranks
from mmmoco.utils.peers import record_whereabouts
from .failures import named_failure
from .finite import nonfinite_error, nonfinite_output, nonfinite_parameter
from .preemption import PreemptionSignals, TrainingPreempted, save_preemption_checkpoint


@LOOPS.register_module()
class ExactResumeEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's EpochBasedTrainLoop with exact mid-epoch resume and non-finite guards.

    - **Per-sample augmentation seeds.** A train dataloader config's sampler is wrapped in
      :class:`~mmmoco.datasets.SampleSeedSampler`, so mmmoco's datasets augment each sample
      from a seed of (run seed, epoch, rank, position): the augmentation does not depend on
      the data loader workers, which may then be persistent (``persistent_workers=True``).
      Creating the data iterator leaves the main process's random state as it was (a pool of
      persistent workers is created once per process, i.e. again after a resume).
    - **Mid-epoch resume.** Resuming from an iteration checkpoint (``CheckpointHook`` with
      ``by_epoch=False``) continues the interrupted epoch after the batches it had already
      trained on, instead of replaying the whole epoch. The sampler order is the same (same
      seed and epoch) and with per-sample seeds so are the augmentations: the sampler starts
      after the consumed samples, which are not loaded. A dataset that takes plain indices only
      cannot be seeded per sample: then the random state at the start of the epoch (stored in
      the checkpoint by ``RandomStateHook``) is restored, a data loader iterator is created
      and the consumed batches are loaded and discarded, then the checkpoint's own random
      state is put back (exact with non-persistent workers; a warning says that persistent
      workers are not).
    - **Non-finite values.** Every iteration, each value the model reports (the losses) must
      be finite, and every ``finite_check_interval`` iterations (and before every checkpoint,
      see :class:`~mmmoco.engine.runner.MoCoRunner`) so must every parameter and buffer;
      otherwise training stops with :class:`NonFiniteError` naming the iteration, before a
      checkpoint of the broken weights is written or an older one rotated out. Under DDP
      every rank stops with the same message, naming the rank that saw the value.
    - **Preemption.** The first SIGTERM, SIGINT or SIGUSR1 (``preemption.signals``) lets the
      ranks finish the current iteration, save ``iter_N.pth`` together and exit with
      ``preemption.exit_code`` (:mod:`~mmmoco.engine.runner.preemption`); a second one ends
      the process at once. The stop flag and the non-finite flag travel in one small
      all-reduce per iteration.
    - **Failures named.** A data loader worker that dies, or (under DDP) a rank that freezes
      or dies and makes a collective fail, is named in the error
      (:mod:`~mmmoco.engine.runner.failures`).

    ``persistent_workers=True`` is dropped from a dataloader config with ``num_workers=0``
    (which torch refuses), and a pool of persistent workers is shut down when training ends.
    The :class:`~mmmoco.engine.runner.MoCoRunner` uses this loop in place of mmengine's
    ``EpochBasedTrainLoop`` (also when a config names that one).

    Args:
        runner: The runner.
        dataloader: The train dataloader or its config.
        max_epochs: Total training epochs.
        val_begin: The epoch from which validation runs.
        val_interval: Validation interval in epochs.
        dynamic_intervals: mmengine's ``(milestone, interval)`` pairs for validation.
        finite_check_interval: Check all parameters and buffers every this many iterations
            (0 disables the periodic check; the check before each checkpoint stays).
        preemption: ``dict(signals=[...], exit_code=...)`` for
            :class:`~mmmoco.engine.runner.preemption.PreemptionSignals` (default: SIGTERM,
            SIGINT and SIGUSR1, exit code 75; ``dict(signals=[])`` turns it off).
    """

    def __init__(self, runner, dataloader: Union[DataLoader, dict], max_epochs: int,
                 val_begin: int = 1, val_interval: int = 1,
                 dynamic_intervals: Optional[Sequence] = None,
                 finite_check_interval: int = 100, preemption: Optional[dict] = None) -> None:
        if isinstance(dataloader, dict):
            dataloader = without_idle_persistent_workers(with_sample_seeds(dataloader))
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        if not isinstance(finite_check_interval, int) or finite_check_interval < 0:
            raise ValueError('train_cfg.finite_check_interval must be an int >= 0, got '
                             f'{finite_check_interval!r}')
        self.finite_check_interval = finite_check_interval
        if preemption is not None and not isinstance(preemption, dict):
            raise ValueError('train_cfg.preemption must be a dict such as '
                             f"dict(signals=['SIGTERM', 'SIGUSR1'], exit_code=75), got "
                             f'{preemption!r}')
        unknown = set(preemption or {}) - {'signals', 'exit_code'}
        if unknown:
            raise ValueError(f'train_cfg.preemption: unknown key(s) {sorted(unknown)}; it takes '
                             'signals and exit_code')
        self.preemption = PreemptionSignals(**(preemption or {}))
        self.dataloader.worker_init_fn = self.preemption.ignored_in_workers(
            self.dataloader.worker_init_fn)
        #: the data iterator of the current epoch (to name a worker that dies)
        self.data_iterator = None
        #: whether the sampler hands out per-sample seeds that the dataset uses
        self.seeded = getattr(self.dataloader.sampler, 'seeded', False)
        #: without per-sample seeds: the random state when the current epoch's data iterator
        #: was created (saved in checkpoints)
        self.epoch_start_random_state: Optional[dict] = None
        #: that state as read from a resumed checkpoint (set by RandomStateHook)
        self.resumed_epoch_start_state: Optional[dict] = None
        if (not self.seeded and self.dataloader.num_workers > 0
                and getattr(self.dataloader, 'persistent_workers', False)):
            print_log('train_dataloader.persistent_workers=True, but the samples are not '
                      f'seeded one by one ({type(self.dataloader.dataset).__name__} has no '
                      'accepts_seeded_indices, or the config has a built sampler or a '
                      'batch_sampler): the workers keep their random generators across '
                      'epochs, so a resumed run augments differently from the uninterrupted '
                      'one; set persistent_workers=False for exact resume', logger='current',
                      level=logging.WARNING)

    def run(self) -> torch.nn.Module:
        """Train with the preemption signals caught, then shut down the persistent data loader
        workers (also on an error).

        Returns:
            The model (mmengine's loop returns it).

        Raises:
            TrainingPreempted: After the preemption checkpoint is saved (a ``SystemExit``).
            DataLoaderWorkerError: If a data loader worker died (naming it).
            PeerFailureError: If a collective failed because a rank froze or died (naming
                the ranks that no longer answer).
        """
        record_whereabouts()
        self.preemption.install()
        try:
            return super().run()
        except Exception as error:
            named = named_failure(error, self.data_iterator, f'epoch {self._epoch + 1}')
            if named is None:
                raise
            raise named from error
        finally:
            self.preemption.restore()
            # the runner and this loop form reference cycles, and an error's traceback holds
            # the epoch's iterator: left to the garbage collector or the interpreter's exit,
            # the pool's queues are closed before its shutdown signal is sent, and each worker
            # (which ignores the preemption signals) is joined only after a timeout
            iterator, self.data_iterator = self.data_iterator, None
            if hasattr(iterator, '_shutdown_workers'):
                iterator._shutdown_workers()
            if getattr(self.dataloader, '_iterator', None) is not None:
                self.dataloader._iterator = None

    def run_epoch(self) -> None:
        """Iterate one epoch, or what is left of it after a mid-epoch resume."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        consumed = self._iter - self._epoch * len(self.dataloader)
        if self.seeded:
            batches = self._seeded_batches(consumed)
        elif consumed > 0:
            batches = self._replay_epoch(consumed)
        else:
            self.epoch_start_random_state = capture_random_state()
            self.data_iterator = iter(self.dataloader)
            batches = enumerate(self.data_iterator)
        for idx, data_batch in batches:
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _seeded_batches(self, consumed: int) -> Iterator[Tuple[int, Sequence[dict]]]:
        """The batches of this epoch after the ``consumed`` ones, with per-sample seeds.

        Args:
            consumed: Batches of the current epoch trained on before a resumed checkpoint
                (0 at the start of an epoch).

        Returns:
            ``(batch index, batch)`` pairs of the rest of the epoch.
        """
        if consumed >= len(self.dataloader):
            return iter(())
        self.dataloader.sampler.set_epoch(self._epoch,
                                          start=consumed * self.dataloader.batch_size)
        state = capture_random_state()
        # draws a worker base seed, unused with sample seeds
        iterator = self.data_iterator = iter(self.dataloader)
        restore_random_state(state)
        if consumed:
            print_log(f'resumed in the middle of epoch {self._epoch + 1}: skipped the '
                      f'{consumed} batches already trained on (in the sampler, not loaded)',
                      logger='current')
        return enumerate(iterator, start=consumed)

    def _replay_epoch(self, consumed: int) -> Iterator[Tuple[int, Sequence[dict]]]:
        """Position a fresh data iterator after the ``consumed`` batches of this epoch by
        loading and discarding them (datasets without per-sample seeds).

        Args:
            consumed: Batches of the current epoch trained on before the checkpoint.

        Returns:
            ``(batch index, batch)`` pairs of the rest of the epoch.
        """
        resumed_state = capture_random_state()
        start_state, self.resumed_epoch_start_state = self.resumed_epoch_start_state, None
        self.epoch_start_random_state = start_state
        if consumed >= len(self.dataloader):
            return iter(())
        if start_state is None:
            print_log('mid-epoch resume without the random state of the epoch start (no '
                      'RandomStateHook, or an older checkpoint): the data order is the same, '
                      'the augmentations of the rest of the epoch are not', logger='current',
                      level=logging.WARNING)
        else:
            restore_random_state(start_state)
        iterator = self.data_iterator = iter(self.dataloader)
        for _ in range(consumed):
            next(iterator)
        restore_random_state(resumed_state)
        print_log(f'resumed in the middle of epoch {self._epoch + 1}: skipped the {consumed} '
                  f'batches already trained on (loaded and discarded to keep the augmentation '
                  'stream)', logger='current')
        return enumerate(iterator, start=consumed)

    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """Run one iteration; stop if a loss or (periodically) a parameter is not finite on any
        rank, and save and stop after it if a preemption signal reached any rank.

        Args:
            idx: Index of the batch in the epoch.
            data_batch: The batch.

        Raises:
            NonFiniteError: On every rank, on a non-finite loss or parameter of any rank;
                before the iteration's ``after_train_iter`` hooks (checkpointing among them)
                run.
            TrainingPreempted: On every rank, after its ``after_train_iter`` hooks, once the
                preemption checkpoint is saved.
        """
        self.runner.call_hook('before_train_iter', batch_idx=idx, data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        where = f'iteration {self._iter + 1} (epoch {self._epoch + 1}, batch {idx + 1})'
        problem = nonfinite_output(outputs, where)
        if (problem is None and self.finite_check_interval
                and (self._iter + 1) % self.finite_check_interval == 0):
            problem = nonfinite_parameter(self.runner.model, where)
        seen, signum = max_over_ranks([problem is not None, self.preemption.received])
        if seen:
            raise nonfinite_error(gather_first_report(problem))
        self.runner.call_hook('after_train_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        if signum:
            raise TrainingPreempted(self.preemption.exit_code,
                                    save_preemption_checkpoint(self.runner, signum, idx))
        self._iter += 1

