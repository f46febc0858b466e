"""The runner's path on machines without CUDA: gloo process groups, DDP without device ids,
no pinned memory."""
import copy
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.runner import Runner


class CpuFallbackMixin:
    """Runner methods that make mmengine's GPU defaults work on a CPU-only machine.

    With a launcher the process group is gloo (mmengine's ``pytorch`` launcher would call
    ``torch.cuda.set_device``) and the logged ``dist_cfg`` says so; DDP is built with
    ``device_ids=None``; data loaders do not pin memory. On a CUDA machine every method is
    mmengine's own.
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
