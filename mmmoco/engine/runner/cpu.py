"""The runner's path on machines without CUDA: gloo process groups, DDP without device ids,
no pinned memory."""
import copy
from typing import Optional
from unittest import mock

import torch
from mmengine.runner import Runner


def _no_device_to_select(device) -> None:
    """Stands in for ``torch.cuda.set_device`` in mmengine's launchers on a CPU-only machine.

    Args:
        device: The CUDA device a launcher would select (its local rank).
    """


class CpuFallbackMixin:
    """Runner methods that make mmengine's GPU defaults work on a CPU-only machine.

    With a launcher the process group is gloo and the logged ``dist_cfg`` says so; DDP is
    built with ``device_ids=None``; data loaders do not pin memory. On a CUDA machine every
    method is mmengine's own.
    """

    def setup_env(self, env_cfg: dict) -> None:
        """Set up the environment; without CUDA, start a gloo process group.

        The group is started by mmengine's launchers as on a GPU machine, so every
        ``dist_cfg`` key applies (``timeout``: seconds a collective waits for a frozen peer)
        and ``--launcher slurm`` reads the SLURM_* variables; only their selection of a CUDA
        device (``torch.cuda.set_device``) is skipped: there is none.

        Args:
            env_cfg: The ``env_cfg`` of the config (its ``dist_cfg.backend`` becomes 'gloo'
                without CUDA, so the logged environment tells the truth).
        """
        if torch.cuda.is_available():
            super().setup_env(env_cfg)
            return
        env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        with mock.patch.object(torch.cuda, 'set_device', _no_device_to_select):
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
            # the buffer argument comes from DdpWrappingMixin (ddp_wrapping.py)
            defaults = dict(type='MMDistributedDataParallel',
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
