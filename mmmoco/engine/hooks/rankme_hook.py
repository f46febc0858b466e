"""Label-free monitoring of pretraining: RankMe of the backbone's features every N iterations."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch.utils.hooks import RemovableHandle

from mmmoco.evaluation.rankme import effective_rank
from mmmoco.models.utils.pooling import pooled_features
from mmmoco.registry import HOOKS
from mmmoco.utils.checks import check_positive_int
from mmmoco.utils.distributed import all_gather_batches, bare_model

SCALAR_KEY = 'train/rankme'


@HOOKS.register_module()
class RankMeHook(Hook):
    """Log RankMe (the effective rank) of the query backbone's features every ``interval`` steps.

    On a due iteration the hook records the first backbone output of the training step itself
    (the first view's pooled features; no extra forward pass, no change to training or to its
    random state), gathers it from every rank and logs ``exp(entropy)`` of its normalised
    singular values (:func:`~mmmoco.evaluation.rankme.effective_rank`) as ``rankme`` in the
    log line, ``vis_data/scalars.json`` and TensorBoard (when enabled). It needs no labels, so
    it monitors pretraining on unlabeled images where kNN cannot run. Reading it: a value near
    1 means the features collapsed onto a line; it is bounded by min(global batch, feature
    dimension), so compare values of one recipe over time, not across batch sizes.

    Args:
        interval: Compute it every ``interval`` training iterations.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50) -> None:
        self.interval = check_positive_int(interval, 'RankMeHook interval')
        self._handle: Optional[RemovableHandle] = None
        self._features: Optional[torch.Tensor] = None

    def _record_first_output(self, module, args, output) -> None:
        """Forward hook: keep the pooled output of the step's first backbone call."""
        if self._features is None:
            self._features = pooled_features(output).detach()

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """On a due iteration, start recording the backbone's output.

        Args:
            runner: The mmengine runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: Unused.
        """
        if not self.every_n_train_iters(runner, self.interval):
            return
        model = bare_model(runner.model)
        self._features = None
        self._handle = model.backbone.register_forward_hook(self._record_first_output)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Stop recording, gather the features of all ranks and log their RankMe.

        Args:
            runner: The mmengine runner.
            batch_idx: Index of the batch in the epoch.
            data_batch: Unused.
            outputs: Unused.
        """
        if self._handle is None:
            return
        self._handle.remove()
        self._handle = None
        if self._features is None:
            return
        features, _ = all_gather_batches(self._features.float())
        self._features = None
        rank = effective_rank(features)
        runner.message_hub.update_scalar(SCALAR_KEY, rank)
        print_log(f'RankMe after iteration {runner.iter + 1}: {rank:.2f} (features of '
                  f'{features.shape[0]} images x {features.shape[1]} dims; 1 = collapse)',
                  logger='current')
