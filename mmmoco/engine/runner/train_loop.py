"""Epoch-based training loop that resumes exactly mid-epoch and stops on non-finite values."""
import logging
from typing import Iterator, Optional, Sequence, Tuple

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from mmmoco.engine.hooks.random_state import capture_random_state, restore_random_state
from mmmoco.registry import LOOPS
from .finite import check_finite_outputs, check_finite_parameters


@LOOPS.register_module()
class ExactResumeEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's EpochBasedTrainLoop with exact mid-epoch resume and non-finite guards.

    - **Mid-epoch resume.** Resuming from an iteration checkpoint (``CheckpointHook`` with
      ``by_epoch=False``) continues the interrupted epoch after the batches it had already
      trained on, instead of replaying the whole epoch. The sampler order is the same (same
      seed and epoch); to keep the augmentation stream the same as well, the random state at
      the start of the epoch (stored in the checkpoint by ``RandomStateHook``) is restored, a
      data loader iterator is created and the consumed batches are loaded and discarded (data
      only: no forward pass), then the checkpoint's own random state is put back. The cost is
      loading up to one epoch of data once.
    - **Non-finite values.** Every iteration, each value the model reports (the losses) must
      be finite, and every ``finite_check_interval`` iterations (and before every checkpoint,
      see :class:`~mmmoco.engine.runner.MoCoRunner`) so must every parameter and buffer;
      otherwise training stops with :class:`NonFiniteError` naming the iteration, before a
      checkpoint of the broken weights is written or an older one rotated out.

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
    """

    def __init__(self, runner, dataloader, max_epochs: int, val_begin: int = 1,
                 val_interval: int = 1, dynamic_intervals: Optional[Sequence] = None,
                 finite_check_interval: int = 100) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        if not isinstance(finite_check_interval, int) or finite_check_interval < 0:
            raise ValueError('train_cfg.finite_check_interval must be an int >= 0, got '
                             f'{finite_check_interval!r}')
        self.finite_check_interval = finite_check_interval
        #: random state when the current epoch's data iterator was created (saved in checkpoints)
        self.epoch_start_random_state: Optional[dict] = None
        #: that state as read from a resumed checkpoint (set by RandomStateHook)
        self.resumed_epoch_start_state: Optional[dict] = None
        if self.dataloader.num_workers > 0 and getattr(self.dataloader, 'persistent_workers',
                                                       False):
            print_log('train_dataloader.persistent_workers=True: the workers keep their random '
                      'generators across epochs, so a resumed run augments differently from '
                      'the uninterrupted one; set persistent_workers=False for exact resume',
                      logger='current', level=logging.WARNING)

    def run_epoch(self) -> None:
        """Iterate one epoch, or what is left of it after a mid-epoch resume."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        consumed = self._iter - self._epoch * len(self.dataloader)
        if consumed > 0:
            batches = self._continue_epoch(consumed)
        else:
            self.epoch_start_random_state = capture_random_state()
            batches = enumerate(self.dataloader)
        for idx, data_batch in batches:
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _continue_epoch(self, consumed: int) -> Iterator[Tuple[int, Sequence[dict]]]:
        """Position a fresh data iterator after the ``consumed`` batches of this epoch.

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
        iterator = iter(self.dataloader)
        for _ in range(consumed):
            next(iterator)
        restore_random_state(resumed_state)
        print_log(f'resumed in the middle of epoch {self._epoch + 1}: skipped the {consumed} '
                  f'batches already trained on (loaded and discarded to keep the augmentation '
                  'stream)', logger='current')
        return enumerate(iterator, start=consumed)

    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """Run one iteration; stop if a loss or (periodically) a parameter is not finite.

        Args:
            idx: Index of the batch in the epoch.
            data_batch: The batch.

        Raises:
            NonFiniteError: On a non-finite loss or parameter; before the iteration's
                ``after_train_iter`` hooks (checkpointing among them) run.
        """
        self.runner.call_hook('before_train_iter', batch_idx=idx, data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        where = f'iteration {self._iter + 1} (epoch {self._epoch + 1}, batch {idx + 1})'
        check_finite_outputs(outputs, where)
        if self.finite_check_interval and (self._iter + 1) % self.finite_check_interval == 0:
            check_finite_parameters(self.runner.model, where)
        self.runner.call_hook('after_train_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1

