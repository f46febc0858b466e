"""Checkpoints of a MoCoRunner: read as data, loaded strictly, written atomically.

- Reading keeps ``weights_only=True`` with an allow-list (:mod:`mmmoco.utils.checkpoint`); a
  config string stored in a checkpoint is never parsed or executed (mmengine's ``resume``
  runs ``Config.fromstring`` on ``meta['config']``); unreadable files are named with the cause.
- Loading is strict on resume and in ``tools/test.py`` (missing, unexpected and misshapen keys
  are named, also in the work-dir log); ``load_from`` is strict unless the config sets
  ``load_from_strict=False``.
- Saving checks that every parameter and buffer is finite, gathers every rank's random state,
  and writes to a temporary file in the same folder, fsyncs it and renames it over the final
  name (:mod:`mmmoco.utils.atomic_write`).
- ``--resume`` without a path takes the readable checkpoint with the highest recorded
  iteration (``last_checkpoint`` must point inside the work dir), or starts a new run when the
  work dir holds no checkpoint.
- Resume checks what it resumes (:mod:`~mmmoco.engine.runner.resume_checks`): every checkpoint
  records its position (processes, batch size, dataset length, iterations per epoch) and its
  training config; a resumed run continues by images seen or stops naming what changed.
"""
import logging
import os
import os.path as osp
import pickle
from typing import Callable, Optional, Union

import torch
from mmengine.logging import print_log

from mmmoco.engine.hooks import RandomStateHook
from mmmoco.utils.atomic_write import (fsync_directory, fsync_file, remove_stale_temporaries,
                                       temporary_path)
from mmmoco.utils.distributed import bare_model
from .checkpoint_loading import find_resume_checkpoint, load_state_dict_checked, read_checkpoint
from .finite import NonFiniteError, check_finite_parameters
from .resume_checks import (check_config, check_epochs_left, config_fingerprint,
                            rescaled_scheduler_state, resume_iteration, train_position)


class CheckpointingMixin:
    """Runner methods that load, resume and save checkpoints safely (see the module doc)."""

    #: The newest checkpoint with finite weights this run saved or resumed from (named when
    #: training stops on a non-finite value).
    last_finite_checkpoint: Optional[str] = None

    def train(self) -> torch.nn.Module:
        """Train; a non-finite stop names the last checkpoint with finite weights.

        Returns:
            The trained model.

        Raises:
            NonFiniteError: With the last finite checkpoint added to its message.
        """
        try:
            return super().train()
        except NonFiniteError as error:
            last = self.last_finite_checkpoint
            advice = (f'the last checkpoint with finite weights is {last}: --resume {last} (with '
                      f'a changed optimizer setting, a new run from it: load_from={last})'
                      if last else 'this run has not saved or resumed a checkpoint: start it '
                      'again')
            print_log(advice, logger='current', level=logging.ERROR)
            error.args = (f'{error.args[0]}\n{advice}', *error.args[1:])
            raise

    def load_or_resume(self) -> None:
        """Resume (``--resume``) or load weights (``load_from``), strictly by default.

        ``--resume`` without a path on a work dir without any checkpoint starts a new run
        (one command for the first start of a job and its restarts).

        Raises:
            FileNotFoundError: If resuming is asked for and the checkpoints found are all
                incomplete or unreadable.
        """
        if self._has_loaded:
            return
        if self._resume:
            path = self._load_from or find_resume_checkpoint(self.work_dir)
            if path is None:
                print_log(f'--resume: no checkpoint in {self.work_dir} yet, starting a new run',
                          logger='current')
                return
            self.resume(path)
        elif self._load_from is not None:
            self.load_checkpoint(self._load_from,
                                 strict=bool(self.cfg.get('load_from_strict', True)))

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = True, revise_keys=((r'^module\.', ''), )) -> dict:
        """Load a checkpoint's weights into the model (``load_from``).

        Args:
            filename: Checkpoint path.
            map_location: Where to put the tensors.
            strict: Stop on any missing, unexpected or misshapen key; if False, load what
                matches and log the rest as a warning.
            revise_keys: ``(pattern, replacement)`` pairs applied to the checkpoint's keys.

        Returns:
            The loaded checkpoint dict.
        """
        checkpoint = read_checkpoint(filename, map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        load_state_dict_checked(
            self._unwrapped_model(), checkpoint, filename, strict, revise_keys,
            hint='\n(set load_from_strict=False in the config to load only the matching weights)')
        self._has_loaded = True
        print_log(f'Loaded checkpoint {filename}', logger='current')
        return checkpoint

    def resume(self, filename: str, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """Resume training from a checkpoint: weights (strictly), counters, seed, message hub,
        optimizer and schedulers. The checkpoint's config text is never parsed.

        Args:
            filename: Checkpoint path.
            resume_optimizer: Whether to restore the optimizer state.
            resume_param_scheduler: Whether to restore the parameter schedulers.
            map_location: Where to put the tensors ('default': the current device).

        Raises:
            ValueError: If the file is not a training checkpoint (no ``meta.epoch`` /
                ``meta.iter`` / ``message_hub``) or its weights do not match the model.
            ResumeMismatchError: If the config differs from the one it was trained with,
                its position does not fit this run, or it is beyond ``max_epochs``.
        """
        checkpoint = read_checkpoint(filename, map_location)
        meta = checkpoint.get('meta')
        if not (isinstance(meta, dict) and isinstance(meta.get('epoch'), int)
                and isinstance(meta.get('iter'), int) and 'message_hub' in checkpoint):
            raise ValueError(f'cannot resume from {filename!r}: it is not a training checkpoint '
                             '(no meta.epoch / meta.iter / message_hub); to start from its '
                             'weights, use load_from without --resume')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        load_state_dict_checked(
            self._unwrapped_model(), checkpoint, filename, strict=True,
            hint='\n(resuming needs the model the checkpoint was trained with: same config)')
        check_config(filename, meta, self.cfg)
        iteration = resume_iteration(filename, meta,
                                     train_position(self.train_dataloader, self.world_size))
        check_epochs_left(filename, meta['epoch'], self.train_loop.max_epochs)
        self.train_loop._epoch, self.train_loop._iter = meta['epoch'], iteration
        self._resume_seed(meta.get('seed'))
        dataset_meta = getattr(self.train_dataloader.dataset, 'metainfo', None)
        if pickle.dumps(meta.get('dataset_meta')) != pickle.dumps(dataset_meta):
            print_log(f'the dataset metainfo in {filename} differs from the training dataset',
                      logger='current', level=logging.WARNING)
        self.message_hub.load_state_dict(checkpoint['message_hub'])
        if resume_optimizer and 'optimizer' in checkpoint:
            self.optim_wrapper = self.build_optim_wrapper(self.optim_wrapper)
            self.optim_wrapper.load_state_dict(checkpoint['optimizer'])
        if resume_param_scheduler and self.param_schedulers is not None \
                and 'param_schedulers' in checkpoint:
            self._resume_schedulers(checkpoint['param_schedulers'])
        self._has_loaded = True
        self.last_finite_checkpoint = filename
        print_log(f'resumed from {filename}', logger='current')
        self.logger.info(f'resumed epoch: {self.epoch}, iter: {self.iter}')

    def _resume_seed(self, seed: Optional[int]) -> None:
        """Re-seed with the checkpoint's seed, as mmengine does on resume.

        Args:
            seed: The seed stored in the checkpoint's meta, or None.
        """
        current = self._randomness_cfg.get('seed')
        if seed is None or seed == current:
            return
        if current is not None:
            print_log(f'the checkpoint was trained with seed {seed}, the config says {current}; '
                      'continuing with the checkpoint seed', logger='current',
                      level=logging.WARNING)
        self._randomness_cfg.update(seed=seed)
        self.set_randomness(**self._randomness_cfg)

    def _resume_schedulers(self, saved) -> None:
        """Restore the parameter schedulers' states, continued at this run's position.

        With an unchanged config and position the saved states load as they are; otherwise
        each keeps the values reached and takes the shape this run built (see
        :func:`~mmmoco.engine.runner.resume_checks.rescaled_scheduler_state`).

        Args:
            saved: ``checkpoint['param_schedulers']`` (a list, or a dict of lists).
        """
        self.param_schedulers = self.build_param_scheduler(self.param_schedulers)
        if isinstance(self.param_schedulers, dict):
            pairs = [(scheduler, state, f'param_scheduler.{name}.{index}')
                     for name, schedulers in self.param_schedulers.items()
                     for index, (scheduler, state) in enumerate(zip(schedulers, saved[name]))]
        else:
            pairs = [(scheduler, state, f'param_scheduler.{index}')
                     for index, (scheduler, state) in enumerate(zip(self.param_schedulers, saved))]
        for scheduler, state, where in pairs:
            step = self.epoch if scheduler.by_epoch else self.iter
            scheduler.load_state_dict(
                rescaled_scheduler_state(state, scheduler.state_dict(), step, where))

    def _unwrapped_model(self) -> torch.nn.Module:
        """The model without its DDP wrapper (checkpoint keys have no ``module.``)."""
        return bare_model(self.model)

    def save_checkpoint(self, out_dir: str, filename: str, file_client_args=None,
                        save_optimizer: bool = True, save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save a checkpoint atomically, after checking that the weights are finite.

        Called on every rank (the finite check and the random-state gathering run on all of
        them); rank 0 writes. On a local folder the checkpoint goes to a temporary file in the
        same folder, is flushed to disk and renamed over ``filename``, so the file is either
        the complete new checkpoint or absent / the previous one.

        Args:
            out_dir: The folder.
            filename: The checkpoint's file name.
            file_client_args: Deprecated mmengine file client arguments.
            save_optimizer: Whether to save the optimizer state.
            save_param_scheduler: Whether to save the schedulers' states.
            meta: Extra meta information.
            by_epoch: Whether the counters in meta are epoch-based.
            backend_args: mmengine storage backend arguments (remote storage is written by
                mmengine directly, without the atomic rename).

        Raises:
            NonFiniteError: If a parameter or buffer is NaN or infinite (nothing is written).
            OSError: If writing fails (e.g. disk full); the message names the file, and the
                previous checkpoints are untouched.
        """
        # an epoch checkpoint is saved after the loop counted the iteration, an iteration
        # checkpoint before
        trained = self.iter if by_epoch else self.iter + 1
        check_finite_parameters(self.model, f'iteration {trained}, before saving {filename}')
        for hook in self.hooks:
            if isinstance(hook, RandomStateHook):
                hook.gather_before_save(self)
        if self.rank != 0:
            self.last_finite_checkpoint = osp.join(out_dir, filename)
            return
        if getattr(self, '_config_fingerprint', None) is None:
            self._config_fingerprint = config_fingerprint(self.cfg)
        meta = {**(meta or {}), 'world_size': self.world_size,
                'train_position': train_position(self.train_dataloader, self.world_size),
                'config_fingerprint': self._config_fingerprint}
        args = dict(file_client_args=file_client_args, save_optimizer=save_optimizer,
                    save_param_scheduler=save_param_scheduler, meta=meta, by_epoch=by_epoch,
                    backend_args=backend_args)
        if file_client_args is not None or backend_args is not None or '://' in out_dir:
            super().save_checkpoint(out_dir, filename, **args)
            self.last_finite_checkpoint = osp.join(out_dir, filename)
            return
        final = osp.join(out_dir, filename)
        for stale in remove_stale_temporaries(out_dir):
            print_log(f'removed {stale}, left by a save that was killed', logger='current')
        tmp = temporary_path(final)
        try:
            super().save_checkpoint(out_dir, osp.basename(tmp), **args)
            fsync_file(tmp)
            os.replace(tmp, final)
        except OSError as error:
            if osp.exists(tmp):
                os.remove(tmp)
            message = (f'could not write checkpoint {final}: {error.strerror or error} '
                       f'(errno {error.errno}); nothing was replaced or deleted, the previous '
                       'checkpoints are intact. Free space or fix the folder, then --resume')
            print_log(message, logger='current', level=logging.ERROR)
            raise OSError(error.errno, message) from error
        fsync_directory(out_dir)
        self.last_finite_checkpoint = final

