"""InfoNCE head that owns MoCo's queue of negative keys."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmmoco.registry import MODELS
from mmmoco.utils.distributed import all_gather_batches


@MODELS.register_module()
class MoCoQueueHead(BaseModule):
    """Contrastive (InfoNCE) loss against a queue of negative keys, and the queue itself.

    The queue holds ``queue_len`` L2-normalised keys of dimension ``feat_dim``; it and the write
    pointer are buffers, so checkpoints carry them and resume restores them. The logits of a
    query are its similarity to its positive key followed by its similarity to every queued key,
    divided by the temperature; the loss is the cross-entropy with the positive at index 0
    (He et al. 2020, Eq. 1). After the loss, the keys of all ranks are written into the queue
    (oldest first out), wrapping around its end; a global batch larger than the queue keeps its
    last ``queue_len`` keys.

    Args:
        feat_dim: Embedding dimension.
        queue_len: Number of negative keys K (65536 in the papers).
        temperature: Softmax temperature tau (0.07 for MoCo v1, 0.2 for MoCo v2).
        init_cfg: mmengine init config.
    """

    def __init__(self, feat_dim: int = 128, queue_len: int = 65536, temperature: float = 0.2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if queue_len < 1 or feat_dim < 1:
            raise ValueError(f'queue_len and feat_dim must be >= 1, got {queue_len}, {feat_dim}')
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.queue_len = queue_len
        self.temperature = temperature
        self.register_buffer('queue', F.normalize(torch.randn(queue_len, feat_dim), dim=1))
        self.register_buffer('queue_ptr', torch.zeros((), dtype=torch.long))

    def logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Logits of each query: [positive, queue negatives] / temperature.

        Args:
            q: L2-normalised queries (N, D).
            k: L2-normalised positive keys (N, D), without gradient.

        Returns:
            Logits of shape (N, 1 + queue_len); the positive is column 0.
        """
        positive = (q * k).sum(dim=1, keepdim=True)
        # A copy: the backward pass needs the queue as it was, and enqueue() writes into it
        # in place before the optimizer step.
        negatives = q @ self.queue.detach().clone().to(q.dtype).t()
        return torch.cat([positive, negatives], dim=1) / self.temperature

    def loss(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """InfoNCE loss of the queries against their keys and the queue.

        Args:
            q: L2-normalised queries (N, D).
            k: L2-normalised positive keys (N, D), without gradient.

        Returns:
            The mean loss over the batch (a scalar).
        """
        logits = self.logits(q, k)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits.float(), labels)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write the keys of every rank into the queue, replacing the oldest.

        Args:
            keys: This rank's L2-normalised keys (n, D); ranks may hold different n.
        """
        keys, _ = all_gather_batches(keys.detach())
        keys = keys[-self.queue_len:].to(self.queue.dtype)
        ptr = int(self.queue_ptr)
        slots = (ptr + torch.arange(keys.shape[0], device=self.queue.device)) % self.queue_len
        self.queue[slots] = keys
        self.queue_ptr.fill_((ptr + keys.shape[0]) % self.queue_len)
