"""The InfoNCE loss (loss only): shared by MoCo v1/v2 (queue negatives) and v3 (batch keys)."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmmoco.registry import MODELS
from mmmoco.utils.checks import check_positive_float


@MODELS.register_module()
class ContrastiveHead(BaseModule):
    """InfoNCE: cross-entropy of temperature-scaled similarities against the positive's index.

    The caller builds the similarity matrix, one row per query: MoCo v1/v2 put the similarity
    to the positive key in column 0 and the similarities to the queued keys after it (He et al.
    2020, Eq. 1); MoCo v3 compares each query with every key of the global batch, its positive
    at its own global index. The head casts to float32 first (the models compute the
    similarities in float32 already), then divides by the temperature, takes the cross-entropy
    and reports the top-1 accuracy of the positive, the readable
    training signal (the loss itself rises while a queue fills with keys).

    Args:
        temperature: Softmax temperature tau (0.07 for MoCo v1, 0.2 for v2, 1.0 / 0.2 for v3
            with ResNet / ViT).
        init_cfg: mmengine init config.

    Raises:
        TypeError: If ``temperature`` is not a number.
        ValueError: If it is not finite or not > 0.
    """

    def __init__(self, temperature: float = 0.2, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.temperature = check_positive_float(temperature, 'head temperature')

    def forward(self, similarities: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE loss and top-1 accuracy.

        Args:
            similarities: Cosine similarities (N, M) of N queries to M candidates.
            labels: Column of each query's positive (N,), long; None means column 0 (the
                positive-first layout of MoCo v1/v2).

        Returns:
            The mean loss over the queries (a float32 scalar) and the percentage of queries
            whose most similar candidate is the positive (no gradient).
        """
        logits = similarities.float() / self.temperature
        if labels is None:
            labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        loss = F.cross_entropy(logits, labels)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == labels).float().mean() * 100
        return loss, accuracy
