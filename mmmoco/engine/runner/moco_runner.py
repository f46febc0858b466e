"""mmengine Runner with safe, strict and crash-proof checkpoints and a CPU (gloo) path for DDP."""
from typing import Union

import torch
from mmengine.runner import Runner
from mmengine.runner.base_loop import BaseLoop

from mmmoco.registry import RUNNERS
from .checkpoint_loading import refuse_checkpoint_overwrite
from .checkpointing import CheckpointingMixin
from .console_log import ConsoleLogMixin
from .cpu import CpuFallbackMixin
from .ddp_wrapping import DdpWrappingMixin
from .safe_types import refuse_plain_checkpoint_hook, refuse_plain_train_loop
from .work_dir_lock import WorkDirLockMixin


@RUNNERS.register_module()
class MoCoRunner(WorkDirLockMixin, ConsoleLogMixin, DdpWrappingMixin, CpuFallbackMixin,
                 CheckpointingMixin, Runner):
    """The mmengine Runner, made safe for long runs on shared machines.

    - Checkpoints (:class:`~mmmoco.engine.runner.checkpointing.CheckpointingMixin`): read as
      data, loaded strictly, written atomically after a finite check; a fresh run refuses a
      work dir that already holds checkpoints unless ``overwrite_checkpoints=True``.
    - One run per work dir (:class:`~mmmoco.engine.runner.work_dir_lock.WorkDirLockMixin`):
      ``run.lock`` (PID and host) is taken before anything is written; a second run stops
      naming the holder.
    - CPU-only machines (:class:`~mmmoco.engine.runner.cpu.CpuFallbackMixin`): gloo, DDP
      without device ids, no pinned memory.
    - DDP (:class:`~mmmoco.engine.runner.ddp_wrapping.DdpWrappingMixin`): the buffer
      argument of the installed PyTorch; 1x1 convolution weights laid out for channels_last.
    - Console (:class:`~mmmoco.engine.runner.console_log.ConsoleLogMixin`): the config,
      environment and hook dumps go to the work-dir log only (``verbose_console=True``: also
      the console); training ends with a line naming the work dir, last checkpoint and log.
    - Types (:mod:`~mmmoco.engine.runner.safe_types`): the configs declare
      :class:`ExactResumeEpochBasedTrainLoop` and
      :class:`~mmmoco.engine.hooks.AtomicCheckpointHook`; mmengine's plain epoch loop and
      checkpoint hook are refused, not swapped.
    - Loaders: a train, val or test dataloader that yields no batch stops the run naming its
      dataset size and batch size.

    The hooks every run needs are default hooks (``configs/_base_/default_runtime.py``): the
    momentum update reads the model's own schedule, the random-state hook makes resume exact.
    """

    def wrap_model(self, model_wrapper_cfg, model):
        """Wrap the model for DDP, refusing the top-level ``sync_bn`` key with Shuffle BN.

        mmengine converts every BN layer to SyncBN under DDP when ``sync_bn`` is set, after
        MoCo's own SyncBN check ran at build time: the key encoder's statistics would become
        global again and Shuffle BN would be silently undone.

        Args:
            model_wrapper_cfg: The ``model_wrapper_cfg`` of the config, or None.
            model: The model to wrap.

        Returns:
            The (possibly wrapped) model.

        Raises:
            ValueError: For ``sync_bn`` with a model whose ``shuffle_bn`` is on.
        """
        if self.cfg.get('sync_bn') is not None and getattr(model, 'shuffle_bn', False):
            raise ValueError(
                f"sync_bn={self.cfg.get('sync_bn')!r} turns every BN layer into SyncBN under "
                'DDP, including the key encoder\'s, which undoes Shuffle BN '
                '(model.shuffle_bn=True). Remove the top-level sync_bn key (SyncBN belongs in '
                "the norm_cfg of MoCo v3's heads and of the transfer benchmarks), or set "
                'model.shuffle_bn=False')
        return super().wrap_model(model_wrapper_cfg, model)

    def build_train_loop(self, loop: Union[BaseLoop, dict]) -> BaseLoop:
        """Build the train loop, refusing mmengine's plain epoch loop and empty loaders.

        Args:
            loop: A loop or its config.

        Returns:
            The loop.
        """
        refuse_plain_train_loop(loop)
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
        """Register a hook, refusing mmengine's plain CheckpointHook.

        Args:
            hook: A hook or its config.
            priority: Optional priority override.
        """
        refuse_plain_checkpoint_hook(hook, 'a checkpoint hook')
        super().register_hook(hook, priority)

    def train(self) -> torch.nn.Module:
        """Check the work dir, then train.

        Returns:
            The trained model.

        Raises:
            FileExistsError: If a fresh run would overwrite checkpoints of another run.
        """
        if not self._resume and not self.cfg.get('overwrite_checkpoints', False):
            refuse_checkpoint_overwrite(self.work_dir)
        return super().train()
