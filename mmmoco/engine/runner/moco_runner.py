"""mmengine Runner with safe, strict and crash-proof checkpoints and a CPU (gloo) path for DDP."""
import copy
import logging
import os
import os.path as osp
import pickle
from typing import Callable, Optional, Union

import torch
import torch.distributed as dist
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, Runner
from mmengine.runner.base_loop import BaseLoop

from mmmoco.engine.hooks import MomentumUpdateHook, RandomStateHook
from mmmoco.registry import RUNNERS
from mmmoco.utils.checkpoint import fsync_directory, fsync_file, temporary_path
from .checkpoint_loading import (find_resume_checkpoint, load_state_dict_checked,
                                 read_checkpoint, refuse_checkpoint_overwrite)
from .finite import check_finite_parameters
from .train_loop import ExactResumeEpochBasedTrainLoop

PLAIN_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook)
PLAIN_EPOCH_LOOPS = ('EpochBasedTrainLoop', 'mmengine.EpochBasedTrainLoop', EpochBasedTrainLoop)


@RUNNERS.register_module()
class MoCoRunner(Runner):
    """The mmengine Runner, made safe for long runs on shared machines.

    Checkpoints:

    - are read as data only: ``weights_only=True`` with an allow-list
      (:mod:`mmmoco.utils.checkpoint`), and a config string stored in a checkpoint is never
      parsed or executed (mmengine's ``resume`` runs ``Config.fromstring`` on
      ``meta['config']``); unreadable files are reported with their name and the cause;
    - load strictly on resume and in ``tools/test.py`` (missing, unexpected and misshapen keys
      are named, also in the work-dir log, and the run stops); ``load_from`` is strict too
      unless the config sets ``load_from_strict=False`` (partial initialisation, mismatches
      logged as warnings);
    - are written atomically (temporary file in the same folder, fsync, ``os.replace``) after
      a check that every parameter and buffer is finite; the ``checkpoint`` hook is always
      :class:`~mmmoco.engine.hooks.AtomicCheckpointHook`, which deletes old checkpoints only
      after the new one is complete;
    - ``--resume`` without a path takes ``last_checkpoint`` or else the newest readable
      ``epoch_*.pth`` / ``iter_*.pth`` and stops if there is none; a fresh run refuses a work
      dir that already holds checkpoints unless ``overwrite_checkpoints=True``.

    Training uses :class:`ExactResumeEpochBasedTrainLoop` (exact mid-epoch resume, stop on a
    non-finite loss) and refuses to start a momentum model (one with ``momentum_pairs()``)
    without :class:`~mmmoco.engine.hooks.MomentumUpdateHook`.

    Machines without CUDA: with a launcher the process group is gloo (mmengine's ``pytorch``
    launcher would call ``torch.cuda.set_device``) and the logged ``dist_cfg`` says so; DDP is
    built with ``device_ids=None``; data loaders do not pin memory.
    """

    def setup_env(self, env_cfg: dict) -> None:
        """Set up the environment; start a gloo process group on machines without CUDA.

        Args:
            env_cfg: The ``env_cfg`` of the config (its ``dist_cfg.backend`` becomes 'gloo'
                without CUDA, so the logged environment tells the truth).
        """
        if not torch.cuda.is_available():
            env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
            if self.distributed and dist.is_available() and not dist.is_initialized():
                dist.init_process_group(backend='gloo')
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg, model):
        """Wrap the model for DDP; on CPU, without device ids.

        Args:
            model_wrapper_cfg: The ``model_wrapper_cfg`` of the config, or None.
            model: The model to wrap.

        Returns:
            The (possibly wrapped) model.
        """
        if self.distributed and not torch.cuda.is_available():
            defaults = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                            find_unused_parameters=self.cfg.get('find_unused_parameters', False))
            model_wrapper_cfg = {**defaults, **(model_wrapper_cfg or {}), 'device_ids': None}
        return super().wrap_model(model_wrapper_cfg, model)

    @staticmethod
    def build_dataloader(dataloader, seed: Optional[int] = None, diff_rank_seed: bool = False):
        """Build a dataloader; without CUDA, with ``pin_memory=False`` (nothing to pin to).

        Args:
            dataloader: A DataLoader or its config.
            seed: Random seed for the sampler and workers.
            diff_rank_seed: Whether ranks get different seeds.

        Returns:
            The DataLoader.
        """
        if isinstance(dataloader, dict) and not torch.cuda.is_available():
            dataloader = copy.copy(dataloader)
            dataloader['pin_memory'] = False
        return Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    # ----------------------------------------------------------------- building loops and hooks
    def build_train_loop(self, loop: Union[BaseLoop, dict]) -> BaseLoop:
        """Build the train loop; mmengine's epoch loop becomes :class:`ExactResumeEpochBasedTrainLoop`.

        Args:
            loop: A loop or its config.

        Returns:
            The loop.

        Raises:
            ValueError: If the train dataloader yields no batch (dataset smaller than a batch).
        """
        if isinstance(loop, dict):
            loop = copy.deepcopy(dict(loop))
            if loop.get('type') in PLAIN_EPOCH_LOOPS or (
                    'type' not in loop and loop.get('by_epoch', True)):
                loop.pop('by_epoch', None)
                loop['type'] = ExactResumeEpochBasedTrainLoop
        built = super().build_train_loop(loop)
        self._require_batches('train_dataloader', built)
        return built

    def build_val_loop(self, loop: Union[BaseLoop, dict]) -> BaseLoop:
        """Build the validation loop, refusing a dataloader without batches.

        Args:
            loop: A loop or its config.

        Returns:
            The loop.
        """
        built = super().build_val_loop(loop)
        self._require_batches('val_dataloader', built)
        return built

    def build_test_loop(self, loop: Union[BaseLoop, dict]) -> BaseLoop:
        """Build the test loop, refusing a dataloader without batches.

        Args:
            loop: A loop or its config.

        Returns:
            The loop.
        """
        built = super().build_test_loop(loop)
        self._require_batches('test_dataloader', built)
        return built

    def _require_batches(self, name: str, loop: BaseLoop) -> None:
        """Stop with a clear message if a loop's dataloader yields no batch.

        Args:
            name: The config key of the dataloader.
            loop: The built loop.

        Raises:
            ValueError: Naming the dataloader, its dataset size, the batch size and
                ``drop_last``.
        """
        loader = getattr(loop, 'dataloader', None)
        if loader is None or len(loader) > 0:
            return
        per_rank = len(loader.sampler) if hasattr(loader.sampler, '__len__') else '?'
        ranks = f' ({per_rank} per process, {self.world_size} processes)' \
            if self.world_size > 1 else ''
        raise ValueError(
            f'{name} yields no batch: its dataset ({type(loader.dataset).__name__}) has '
            f'{len(loader.dataset)} samples{ranks}, batch_size={loader.batch_size}, '
            f'drop_last={loader.drop_last}. Use a smaller {name}.batch_size, more data, or '
            'drop_last=False')

    def register_hook(self, hook, priority=None) -> None:
        """Register a hook; mmengine's plain CheckpointHook becomes AtomicCheckpointHook.

        A config that replaces ``default_hooks.checkpoint`` with ``type='CheckpointHook'``
        would otherwise bring back mmengine's delete-before-save rotation.

        Args:
            hook: A hook or its config.
            priority: Optional priority override.

        Raises:
            TypeError: For an already built plain ``CheckpointHook`` instance.
        """
        if isinstance(hook, dict) and hook.get('type') in PLAIN_CHECKPOINT_HOOKS:
            hook = {**hook, 'type': 'mmmoco.AtomicCheckpointHook'}
        elif type(hook) is CheckpointHook:
            raise TypeError("mmengine's CheckpointHook deletes old checkpoints before saving "
                            'the new one; use mmmoco.engine.hooks.AtomicCheckpointHook')
        super().register_hook(hook, priority)

    # ------------------------------------------------------------------------------ training
    def train(self) -> torch.nn.Module:
        """Check the hooks and the work dir, then train.

        Returns:
            The trained model.

        Raises:
            ValueError: If a momentum model has no MomentumUpdateHook.
            FileExistsError: If a fresh run would overwrite checkpoints of another run.
        """
        self._check_training_hooks()
        if not self._resume and not self.cfg.get('overwrite_checkpoints', False):
            refuse_checkpoint_overwrite(self.work_dir)
        return super().train()

    def _check_training_hooks(self) -> None:
        """Refuse a momentum model without MomentumUpdateHook; warn without RandomStateHook.

        Raises:
            ValueError: Saying what to add to ``custom_hooks``.
        """
        model = self.model.module if is_model_wrapper(self.model) else self.model
        names = [type(hook).__name__ for hook in self.hooks]
        if hasattr(model, 'momentum_pairs') and not any(
                isinstance(hook, MomentumUpdateHook) for hook in self.hooks):
            raise ValueError(
                f'{type(model).__name__} has a momentum (key) encoder but no MomentumUpdateHook '
                f'is registered (hooks: {names}), so the key encoder would never move. A '
                "config's custom_hooks replaces the base list: add "
                "dict(type='MomentumUpdateHook', momentum=0.999) (MoCo v3: momentum=0.99, "
                "end_momentum=1.0) and dict(type='RandomStateHook') to custom_hooks")
        if not any(isinstance(hook, RandomStateHook) for hook in self.hooks):
            print_log("no RandomStateHook in custom_hooks: a resumed run will not be "
                      "bit-identical (add dict(type='RandomStateHook'))", logger='current',
                      level=logging.WARNING)

    # ----------------------------------------------------------------------------- loading
    def load_or_resume(self) -> None:
        """Resume (``--resume``) or load weights (``load_from``), strictly by default.

        Raises:
            FileNotFoundError: If resuming is asked for and no checkpoint is found.
        """
        if self._has_loaded:
            return
        if self._resume:
            path = self._load_from or find_resume_checkpoint(self.work_dir)
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
        self.train_loop._epoch, self.train_loop._iter = meta['epoch'], meta['iter']
        self._resume_seed(meta.get('seed'))
        saved_world_size = meta.get('world_size')
        if saved_world_size is not None and saved_world_size != self.world_size:
            print_log(f'{filename} was saved by {saved_world_size} process(es), this run has '
                      f'{self.world_size}: the total batch size differs', logger='current',
                      level=logging.WARNING)
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
        """Restore the parameter schedulers' states.

        Args:
            saved: ``checkpoint['param_schedulers']`` (a list, or a dict of lists).
        """
        self.param_schedulers = self.build_param_scheduler(self.param_schedulers)
        if isinstance(self.param_schedulers, dict):
            pairs = [(scheduler, state) for name, schedulers in self.param_schedulers.items()
                     for scheduler, state in zip(schedulers, saved[name])]
        else:
            pairs = list(zip(self.param_schedulers, saved))
        for scheduler, state in pairs:
            scheduler.load_state_dict(state)

    def _unwrapped_model(self) -> torch.nn.Module:
        """The model without its DDP wrapper (checkpoint keys have no ``module.``)."""
        return self.model.module if is_model_wrapper(self.model) else self.model

    # ------------------------------------------------------------------------------ saving
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
            return
        meta = {**(meta or {}), 'world_size': self.world_size}
        args = dict(file_client_args=file_client_args, save_optimizer=save_optimizer,
                    save_param_scheduler=save_param_scheduler, meta=meta, by_epoch=by_epoch,
                    backend_args=backend_args)
        if file_client_args is not None or backend_args is not None or '://' in out_dir:
            super().save_checkpoint(out_dir, filename, **args)
            return
        final = osp.join(out_dir, filename)
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

