"""MoCo v1/v2: momentum contrast with a queue of negatives (He et al. 2020; Chen et al. 2020)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from mmmoco.models.utils import (autocast_off, convert_to_split_bn, float32_head,
                                 sync_bn_modules)
from mmmoco.models.utils.multi_crop import check_views, embed_by_resolution, view_pairs
from mmmoco.registry import MODELS
from mmmoco.structures import DataSample
from mmmoco.utils.checks import check_embedding_dims, check_positive_int
from mmmoco.utils.distributed import is_distributed, shuffle_batch, unshuffle_batch

from .base_momentum import BaseMomentumModel

#: Queue state dict keys of checkpoints written before the queue left the head: old -> new.
_LEGACY_QUEUE_KEYS = {'head.queue': 'queue.keys', 'head.queue_ptr': 'queue.ptr'}


def _shuffle_bn_mode(shuffle_bn: bool, split_bn: bool, splits: int) -> str:
    """A one-line description of how the key batch's BN statistics are decoupled.

    Args:
        shuffle_bn: Whether Shuffle BN is on.
        split_bn: Whether it is emulated with split BN on a single device.
        splits: Number of split-BN sub-batches.

    Returns:
        The description, for the log.
    """
    if not shuffle_bn:
        return 'MoCo: Shuffle BN off (queries and keys share BN statistics)'
    if split_bn:
        return f'MoCo: Shuffle BN emulated on one device with split BN ({splits} sub-batches)'
    if is_distributed():
        return 'MoCo: Shuffle BN across all ranks'
    return 'MoCo: single device without split BN: the key batch is only permuted locally'


def check_queue_layout(head: dict, queue: Optional[dict]) -> None:
    """Refuse configs written for the former ``MoCoQueueHead`` (queue and loss in one head).

    Args:
        head: The ``model.head`` config.
        queue: The ``model.queue`` config (None if the config has none).

    Raises:
        ValueError: Saying where the queue's settings go now.
    """
    moved = [key for key in ('feat_dim', 'queue_len') if key in head]
    if queue is None or head.get('type') == 'MoCoQueueHead' or moved:
        raise ValueError(
            f'model.head={dict(head)}, model.queue={queue} follow the former MoCoQueueHead '
            "layout: the queue is now a module of its own. Write model.queue=dict("
            "type='KeyQueue', feat_dim=..., queue_len=...) and model.head=dict("
            "type='ContrastiveHead', temperature=...) (--cfg-options model.queue.queue_len=... "
            'instead of model.head.queue_len=...)')


@MODELS.register_module()
class MoCo(BaseMomentumModel):
    """Momentum Contrast: a query encoder trained by InfoNCE against a momentum key encoder.

    The query encoder is ``backbone`` + ``neck``; the key (momentum) encoder is a copy of both
    that gets no gradients and is moved towards the query encoder after each optimizer step
    with the model's ``momentum`` (by :class:`~mmmoco.engine.hooks.MomentumUpdateHook`). The
    logits of a query are its similarity to its positive key followed by its similarities to
    the keys in
    ``queue`` (:class:`~mmmoco.models.utils.KeyQueue`); ``head``
    (:class:`~mmmoco.models.heads.ContrastiveHead`) turns them into the InfoNCE loss and the
    top-1 accuracy (logged as ``acc_top1``, not part of the loss). After the loss, the keys of
    all ranks enter the queue.

    Shuffle BN: under DDP the key batch is shuffled across ranks before the key encoder and
    unshuffled after, so a query and its positive key never share BN statistics. On a single
    device the same effect comes from split BN: every ``BatchNorm2d`` of both backbones
    computes its statistics over ``single_device_bn_splits`` sub-batches (one per emulated
    device) and the key batch is permuted before the key encoder. SyncBN in the key encoder
    under DDP would make its statistics global again and undo Shuffle BN, so that combination
    is refused.

    Precision: the backbones run in the autocast dtype of the step (bf16/fp16 under AMP); the
    neck, the L2 normalisation and the similarities run in float32 with autocast off
    (:func:`~mmmoco.models.utils.float32_head`), as the float32 reference does.

    Symmetric loss (``symmetric=True``, off by default as in the papers): both views are
    queries, ``loss = ctr(q1, k2) + ctr(q2, k1)``, and the keys of both views enter the queue
    (facebookresearch/moco's CIFAR-10 demo option; roughly the signal of twice the epochs at
    twice the cost of a step). Multi-crop (views beyond the first two, small crops of
    ``MultiView``) needs it: every small view is a query scored against both global keys and
    the queue; small views of one resolution go through the query encoder in one batch, the
    two global views one by one (their BN statistics as in the references). With small views
    the loss is ``2 * mean`` over the (query, key) pairs, which is the sum above without them.

    Args:
        backbone: Config of the backbone (e.g. ``ResNet``).
        neck: Config of the projection neck (``LinearNeck`` or ``MLPNeck``).
        head: Config of the loss head (``ContrastiveHead``).
        queue: Config of the key queue (``KeyQueue``), required; its ``feat_dim`` must equal
            the neck's ``out_channels``.
        momentum: The key encoder's momentum, ``dict(start=0.999)`` (the papers' constant m;
            ``end`` for a cosine schedule).
        data_preprocessor: Config of the data preprocessor.
        shuffle_bn: Shuffle the key batch before the key encoder (Shuffle BN).
        single_device_bn_splits: Number of split-BN sub-batches when the model is built without
            DDP (world size 1) and ``shuffle_bn`` is on; 1 disables the emulation.
        symmetric: Use both views as queries (and small views, if any).
        init_cfg: mmengine init config.

    Raises:
        ValueError: For a dimension mismatch, a bad ``single_device_bn_splits``, a missing
            ``queue`` or a head config of the former ``MoCoQueueHead`` layout, or SyncBN in the
            key encoder with ``shuffle_bn`` under DDP.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, queue: Optional[dict] = None,
                 momentum: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 shuffle_bn: bool = True, single_device_bn_splits: int = 8,
                 symmetric: bool = False, init_cfg: Optional[dict] = None) -> None:
        super().__init__(momentum=momentum or dict(start=0.999),
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(symmetric, bool):
            raise TypeError(f'model.symmetric must be True or False, got {symmetric!r}')
        self.symmetric = symmetric
        check_positive_int(single_device_bn_splits, 'single_device_bn_splits')
        check_queue_layout(head, queue)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.queue = MODELS.build(queue)
        self.head = MODELS.build(head)
        check_embedding_dims(self.neck.out_channels, {'queue.feat_dim': self.queue.feat_dim})
        self.shuffle_bn = shuffle_bn
        self._refuse_sync_bn_with_shuffle_bn()
        self.split_bn = shuffle_bn and not is_distributed() and single_device_bn_splits > 1
        if self.split_bn:
            convert_to_split_bn(self.backbone, single_device_bn_splits)
        print_log(_shuffle_bn_mode(shuffle_bn, self.split_bn, single_device_bn_splits),
                  logger='current')
        self.add_momentum_copies('backbone', 'neck')

    def _refuse_sync_bn_with_shuffle_bn(self) -> None:
        """Under DDP, refuse SyncBN in the key encoder when Shuffle BN is on.

        Raises:
            ValueError: Naming the SyncBN layers and what to change.
        """
        if not (self.shuffle_bn and is_distributed()):
            return
        for part in ('backbone', 'neck'):
            names = sync_bn_modules(getattr(self, part))
            if names:
                raise ValueError(
                    f'MoCo: model.{part} has SyncBN layers ({names[0]}, ...) and shuffle_bn=True '
                    'under DDP: SyncBN computes the key encoder\'s BN statistics over the whole '
                    'global batch, which undoes Shuffle BN (a query and its key would share '
                    f'statistics again). Use norm_cfg=dict(type=\'BN\') in model.{part} (SyncBN '
                    'belongs in MoCo v3\'s MLP heads and in the transfer benchmarks).')

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Load, renaming the queue keys of older checkpoints (``head.queue*``) first."""
        for old, new in _LEGACY_QUEUE_KEYS.items():
            if prefix + old in state_dict and prefix + new not in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _queries(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 queries of a batch from the query encoder.

        Args:
            images: One view, or several views of one resolution concatenated (M, 3, H, W).

        Returns:
            Queries (M, D), float32.
        """
        return F.normalize(float32_head(self.neck, self.backbone(images)), dim=1)

    @torch.no_grad()
    def _keys(self, images: torch.Tensor) -> Tuple[torch.Tensor, Optional[List[int]]]:
        """L2-normalised float32 keys from the momentum encoder, with Shuffle BN if enabled.

        Args:
            images: Key view (N, 3, H, W).

        Returns:
            Keys (N, D) in the order of ``images``, and every rank's batch size when Shuffle
            BN gathered them (None otherwise).
        """
        sizes = None
        if self.shuffle_bn:
            images, perm, sizes = shuffle_batch(images)
        keys = F.normalize(float32_head(self.momentum_neck, self.momentum_backbone(images)),
                           dim=1)
        if self.shuffle_bn:
            keys = unshuffle_batch(keys, perm, sizes)
        return keys, sizes

    def _contrast(self, queries: torch.Tensor, keys: torch.Tensor,
                  negatives: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE of queries against their positive keys and the queued negatives, in float32.

        Args:
            queries: Normalised queries (N, D).
            keys: Their normalised positive keys (N, D).
            negatives: The queued keys (K, D), float32.

        Returns:
            The loss and the top-1 accuracy (percent) of the positives.
        """
        with autocast_off(queries.device):
            positive = (queries * keys).sum(dim=1, keepdim=True)
            return self.head(torch.cat([positive, queries @ negatives.t()], dim=1))

    def loss(self, inputs: Sequence[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None) -> Dict[str, torch.Tensor]:
        """InfoNCE loss of one step; the step's keys then enter the queue.

        Args:
            inputs: Views ``[query_images, key_images, *small_views]``, each (N, 3, H, W);
                small views (multi-crop) only with ``symmetric=True``.
            data_samples: Unused (self-supervised).

        Returns:
            ``dict(loss=..., acc_top1=...)``: the loss and the percentage of queries whose
            positive key is more similar than every queued key (mean over the pairs).
        """
        check_views(inputs, 'MoCo', multi_crop=self.symmetric)
        queries = [self._queries(inputs[0])]
        if self.symmetric:
            queries += [self._queries(inputs[1])] + embed_by_resolution(self._queries, inputs[2:])
        key_views = (0, 1) if self.symmetric else (1, )
        keys, sizes = {}, None
        for view in key_views:
            keys[view], sizes = self._keys(inputs[view])
        negatives = self.queue.snapshot(torch.float32)
        pairs = view_pairs(len(inputs), self.symmetric)
        losses, accuracies = zip(*[self._contrast(queries[q], keys[k], negatives)
                                   for q, k in pairs])
        loss = losses[0] if len(pairs) == 1 else 2 * torch.stack(losses).mean()
        self.queue.enqueue(torch.cat([keys[view] for view in key_views]),
                           None if sizes is None else [len(key_views) * n for n in sizes])
        return dict(loss=loss, acc_top1=torch.stack(accuracies).mean())
