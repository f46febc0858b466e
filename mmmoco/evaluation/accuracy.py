"""Top-k accuracy metric for classifier evaluation in mmengine's loops."""
from typing import Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmmoco.evaluation.knn import topk_accuracy
from mmmoco.registry import METRICS


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy (percent) of ``pred_score`` against ``gt_label``.

    Args:
        topk: The k values, e.g. (1, 5).
        collect_device: Device for gathering results across ranks.
        prefix: Prefix of the metric names (default ``accuracy``).
    """

    default_prefix = 'accuracy'

    def __init__(self, topk: Sequence[int] = (1, 5), collect_device: str = 'cpu',
                 prefix: str = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not topk or min(topk) < 1:
            raise ValueError(f'Accuracy topk must be positive ints, got {topk}')
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the score and label of each predicted sample.

        Args:
            data_batch: Unused.
            data_samples: Predicted samples (dicts with ``pred_score`` and ``gt_label``).
        """
        for sample in data_samples:
            self.results.append((sample['pred_score'].cpu(), sample['gt_label'].cpu()))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """Top-k accuracies over all kept samples.

        Args:
            results: ``(score, label)`` pairs from every rank.

        Returns:
            ``{'top1': ..., 'top5': ...}``.
        """
        scores = torch.stack([score for score, _ in results])
        labels = torch.stack([label for _, label in results])
        return topk_accuracy(scores, labels, self.topk)
