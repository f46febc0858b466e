"""mmengine Runner with safe checkpoint loading and a CPU (gloo) path for DDP."""
import torch
import torch.distributed as dist
from mmengine.runner import Runner

from mmmoco.registry import RUNNERS
from mmmoco.utils.checkpoint import allow_mmengine_checkpoints


@RUNNERS.register_module()
class MoCoRunner(Runner):
    """The mmengine Runner, with three changes:

    - checkpoints load with torch's ``weights_only=True`` kept on, allow-listing only what
      mmengine checkpoints hold (:mod:`mmmoco.utils.checkpoint`); resume and ``load_from`` work
      with torch >= 2.6 and untrusted pickles are still refused;
    - with a launcher but no CUDA, the process group is gloo (mmengine's ``pytorch`` launcher
      would call ``torch.cuda.set_device``), so ``dist_train.sh`` runs on CPU;
    - on CPU, DDP is built with ``device_ids=None`` (mmengine passes ``[LOCAL_RANK]``, which
      DDP rejects for CPU modules).
    """

    def setup_env(self, env_cfg: dict) -> None:
        """Set up the environment; start a gloo process group on machines without CUDA.

        Args:
            env_cfg: The ``env_cfg`` of the config.
        """
        if (self.distributed and not torch.cuda.is_available() and dist.is_available()
                and not dist.is_initialized()):
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

    def load_checkpoint(self, filename: str, *args, **kwargs):
        """Load a checkpoint (used by ``load_from`` and resume) under the allow-list.

        Args:
            filename: Checkpoint path.
            *args: Passed to :meth:`mmengine.runner.Runner.load_checkpoint`.
            **kwargs: Passed to :meth:`mmengine.runner.Runner.load_checkpoint`.

        Returns:
            The loaded checkpoint dict.
        """
        with allow_mmengine_checkpoints():
            return super().load_checkpoint(filename, *args, **kwargs)
