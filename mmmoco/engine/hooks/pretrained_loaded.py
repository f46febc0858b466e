"""Check, once the runner initialised the weights, that a transfer run loaded its pretrained
file."""
from typing import List

from mmengine.hooks import Hook

from mmmoco.models.utils.pretrained import compare_loaded_weights, module_names
from mmmoco.registry import HOOKS
from mmmoco.utils.distributed import bare_model


@HOOKS.register_module()
class PretrainedLoadedHook(Hook):
    """After the runner initialised the weights, check that the modules initialised from the
    pretrained file hold exactly its tensors, and log it (registered by the transfer
    wrappers, :func:`mmmoco.apis.transfer.main`).

    Skipped when the weights come from ``load_from`` or a resumed checkpoint instead.

    Args:
        module_paths: Dotted paths of the modules initialised from the file.
        source: The pretrained file.
    """

    priority = 'VERY_LOW'  # after any hook that sets weights up in before_train

    def __init__(self, module_paths: List[str], source: str) -> None:
        self.module_paths = module_paths
        self.source = source

    def before_train(self, runner) -> None:
        """Compare the initialised weights with the file's.

        Args:
            runner: The runner.

        Raises:
            RuntimeError: If a module's weight differs from the file's.
        """
        if runner.cfg.get('resume') or runner.cfg.get('load_from'):
            runner.logger.info(f'Weights come from load_from/resume, not compared with '
                               f'{self.source}')
            return
        model = bare_model(runner.model)
        count = compare_loaded_weights(model, self.module_paths, self.source)
        runner.logger.info(f'Pretrained weights loaded: the {count} tensors of '
                           f'{module_names(self.module_paths)} equal those of {self.source}')
