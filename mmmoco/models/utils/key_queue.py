"""MoCo v1/v2's queue of negative keys, a module of its own (the loss lives in the head)."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmmoco.registry import MODELS
from mmmoco.utils.checks import check_positive_int
from mmmoco.utils.distributed import all_gather_batches



@MODELS.register_module()
class KeyQueue(BaseModule):
    """A first-in first-out queue of L2-normalised keys: MoCo's negatives.

    The keys (``queue_len`` x ``feat_dim``, buffer ``keys``) and the write pointer (buffer
    ``ptr``, a 0-d long tensor) are buffers, so checkpoints carry them and a resume restores
    them. The pointer is also kept as a Python int, so writing the queue does not read a device
    tensor back (no host-device synchronisation per step); the buffer stays the truth that
    checkpoints hold, and the int is re-read from it after ``load_state_dict``.

    Double buffering: the backward pass of a step needs the queue as it was when the loss was
    computed, but MoCo enqueues the step's keys before that backward. Instead of copying the
    whole queue for every step's graph, :meth:`enqueue` writes the new state into a second
    buffer (non-persistent, not in checkpoints) and makes it ``keys``; the buffer the step's
    graph reads is left untouched until the next enqueue, which brings it up to date by writing
    only the rows it lacks (the previous step's keys, then the new ones). A write to ``keys``
    from outside (``load_state_dict``, an in-place copy) is noticed through the tensor's version
    counter and the whole queue is copied once.

    Args:
        feat_dim: Dimension of the keys (the neck's ``out_channels``).
        queue_len: Number of keys K (65536 in the papers).
        init_cfg: mmengine init config.

    Raises:
        TypeError: If ``feat_dim`` or ``queue_len`` is not an int.
        ValueError: If either is < 1.
    """

    def __init__(self, feat_dim: int = 128, queue_len: int = 65536,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.feat_dim = check_positive_int(feat_dim, 'queue feat_dim')
        self.queue_len = check_positive_int(queue_len, 'queue queue_len')
        self.register_buffer('keys', F.normalize(torch.randn(queue_len, feat_dim), dim=1))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))
        self.register_buffer('spare_keys', torch.empty_like(self.keys), persistent=False)
        self._host_ptr = 0
        # rows where spare_keys lags behind keys (None: all of them), and the version of keys
        # at the last enqueue (a different version means keys was written from outside)
        self._lagging: Optional[torch.Tensor] = None
        self._synced_version = -1
        self.register_load_state_dict_post_hook(KeyQueue._reread_pointer)

    @staticmethod
    def _reread_pointer(module: 'KeyQueue', incompatible_keys) -> None:
        """After loading a state dict, take the pointer from the (restored) buffer."""
        module._host_ptr = int(module.ptr)

    def snapshot(self, dtype: torch.dtype) -> torch.Tensor:
        """The queued keys as they are now, safe to use in a graph.

        The ``keys`` buffer itself (a copy only for another dtype): :meth:`enqueue` writes the
        next state into the other buffer, so this one stays as it is until the following
        enqueue, after the backward pass that needs it.

        Args:
            dtype: dtype of the result (that of the queries, under autocast).

        Returns:
            The keys, (queue_len, feat_dim), without gradient.
        """
        return self.keys.detach().to(dtype)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, sizes: Optional[List[int]] = None) -> None:
        """Write the keys of every rank into the queue, replacing the oldest.

        A global batch larger than the queue keeps its last ``queue_len`` keys.

        Args:
            keys: This rank's L2-normalised keys (n, feat_dim); ranks may hold different n.
            sizes: Every rank's n when already known this step (Shuffle BN gathers them),
                which saves a collective; gathered otherwise.
        """
        keys, _ = all_gather_batches(keys.detach(), sizes)
        keys = keys[-self.queue_len:].to(self.keys.dtype)
        ptr = self._host_ptr
        slots = (ptr + torch.arange(keys.shape[0], device=self.keys.device)) % self.queue_len
        current, target = self.keys, self.spare_keys
        if self._lagging is None or current._version != self._synced_version:
            target.copy_(current)
        else:
            target[self._lagging] = current[self._lagging]
        target[slots] = keys
        self._buffers['keys'], self._buffers['spare_keys'] = target, current
        self._lagging, self._synced_version = slots, target._version
        self._host_ptr = (ptr + keys.shape[0]) % self.queue_len
        self.ptr.fill_(self._host_ptr)
