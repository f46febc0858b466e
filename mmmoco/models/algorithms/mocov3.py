"""MoCo v3: momentum contrast with in-batch keys, a predictor and no queue (Chen et al. 2021)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from mmmoco.models.utils import autocast_off, cached_embedding, float32_head
from mmmoco.models.utils.multi_crop import check_views, embed_by_resolution, view_pairs
from mmmoco.registry import MODELS
from mmmoco.structures import DataSample
from mmmoco.utils.checks import check_embedding_dims, check_positive_int
from mmmoco.utils.distributed import all_gather_batches, is_distributed, rank_offset

from .base_momentum import BaseMomentumModel


@MODELS.register_module()
class MoCoV3(BaseMomentumModel):
    """MoCo v3 ("An Empirical Study of Training Self-Supervised Vision Transformers").

    Query branch: ``backbone`` -> ``neck`` (the projector) -> ``predictor``. Key branch: a
    momentum copy of ``backbone`` + ``neck`` (no gradients, an exact copy at initialisation,
    moved after each optimizer step with the model's ``momentum``, by default the reference's
    half-cosine from 0.99 to 1, by :class:`~mmmoco.engine.hooks.MomentumUpdateHook`). For the
    two views x1, x2 the loss is ``ctr(q1, k2) + ctr(q2, k1)``, where ``ctr(q, k)`` is the InfoNCE loss
    (``head``) of each query against the keys of the whole global batch (gathered from all
    ranks, the positive at the query's global index), multiplied by ``2 * tau`` as in the
    reference code. There is no queue and no Shuffle BN. ``acc_top1`` (logged, not part of the
    loss) is the mean of both orders' top-1 accuracies of the positive.

    Gradient caching (``chunk_size``): the query branch embeds each view in chunks of
    ``chunk_size`` samples without keeping activations; the loss is taken on the full batch's
    embeddings, and its gradient with respect to them is backpropagated through each chunk,
    embedded again with a graph (:func:`~mmmoco.models.utils.cached_embedding`). The key branch
    embeds in chunks too (it never needs a graph). The loss and the parameter gradients equal
    those of the un-chunked batch for models whose samples do not interact (LayerNorm ViTs,
    BN-free heads); with BatchNorm (a ResNet, BN in the MLP heads) the batch statistics are
    those of each chunk, not of the batch, and the running statistics are updated once per
    chunk. Each chunk's second pass replays the random state of its first (identical dropout
    or drop-path masks; the pretraining models have none). It runs within the usual
    ``train_step``, so AMP loss scaling and gradient accumulation apply unchanged; it is for one
    device (under DDP every parameter would be reduced once per chunk), and refused under DDP.

    Precision: the backbones run in the step's autocast dtype; the projector, the predictor,
    the normalisation and the similarities run in float32 with autocast off
    (:func:`~mmmoco.models.utils.float32_head`).

    Multi-crop: views beyond the first two (small crops) are queries only, each scored
    against both global keys; small views of one resolution go through the query encoder in
    one batch. The loss is then ``2 * mean`` over the (query, key) pairs, which is the
    two-term sum above without small views.

    Args:
        backbone: Config of the backbone (``ResNet`` or ``VisionTransformer``).
        neck: Config of the projector (``MLPNeck``).
        predictor: Config of the predictor (``MLPNeck``), from and to the projector's
            ``out_channels``.
        head: Config of the loss head (``ContrastiveHead``; temperature 1.0 for ResNet-50, 0.2
            for ViT in the reference recipes).
        momentum: The key encoder's momentum schedule, ``dict(start=0.99, end=1.0)`` (the
            reference's half-cosine from m to 1 per step).
        chunk_size: Samples per chunk for gradient caching, or None (off).
        data_preprocessor: Config of the data preprocessor.
        init_cfg: mmengine init config.

    Raises:
        ValueError: For a dimension mismatch between projector and predictor, a bad
            ``chunk_size``, or ``chunk_size`` under DDP.
    """

    def __init__(self, backbone: dict, neck: dict, predictor: dict, head: dict,
                 momentum: Optional[dict] = None, chunk_size: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(momentum=momentum or dict(start=0.99, end=1.0),
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if chunk_size is not None:
            check_positive_int(chunk_size, 'chunk_size')
            if is_distributed():
                raise ValueError('MoCoV3: chunk_size (gradient caching) runs on a single '
                                 'device; under DDP set model.chunk_size=None')
            print_log(f'MoCoV3: gradient caching on: the query branch embeds each view in '
                      f'chunks of {chunk_size} samples (activations of one chunk at a time, '
                      'the gradients of the whole batch)', logger='current')
        self.chunk_size = chunk_size
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.predictor = MODELS.build(predictor)
        self.head = MODELS.build(head)
        check_embedding_dims(self.neck.out_channels, {
            'predictor.in_channels': self.predictor.in_channels,
            'predictor.out_channels': self.predictor.out_channels})
        self.add_momentum_copies('backbone', 'neck')


    def _embed_query(self, images: torch.Tensor) -> torch.Tensor:
        """Float32 query embeddings (not normalised) of a batch, with a graph."""
        return float32_head(lambda features: self.predictor(self.neck(features)),
                            self.backbone(images))

    def _queries(self, images: torch.Tensor) -> torch.Tensor:
        """Query embeddings of one view, chunked with gradient caching if ``chunk_size``.

        Args:
            images: One view (N, 3, H, W).

        Returns:
            The embeddings (N, D), not normalised.
        """
        if self.chunk_size is None or not torch.is_grad_enabled():
            return self._embed_query(images)
        return cached_embedding(self._embed_query, images, self.chunk_size,
                                modules=(self.backbone, self.neck, self.predictor))

    @torch.no_grad()
    def _keys(self, images: torch.Tensor) -> torch.Tensor:
        """Key embeddings (not normalised) of one view from the momentum encoder.

        Args:
            images: One view (N, 3, H, W).

        Returns:
            The embeddings (N, D).
        """
        chunks = [images] if self.chunk_size is None else images.split(self.chunk_size)
        return torch.cat([float32_head(self.momentum_neck, self.momentum_backbone(c))
                          for c in chunks])

    def contrastive_loss(self, queries: torch.Tensor,
                         keys: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE of this rank's queries against the keys of all ranks, times ``2 * tau``.

        Args:
            queries: This rank's query embeddings (n, D).
            keys: This rank's key embeddings of the other view (n, D), without gradient.

        Returns:
            The loss and the top-1 accuracy (percent) of the positives.
        """
        with autocast_off(queries.device):
            queries = F.normalize(queries.float(), dim=1)
            all_keys, sizes = all_gather_batches(F.normalize(keys.float(), dim=1))
            labels = torch.arange(queries.shape[0], device=queries.device) + rank_offset(sizes)
            loss, accuracy = self.head(queries @ all_keys.t(), labels)
        return loss * (2 * self.head.temperature), accuracy

    def loss(self, inputs: Sequence[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None) -> Dict[str, torch.Tensor]:
        """Symmetric MoCo v3 loss of one step (with multi-crop if there are small views).

        Args:
            inputs: Views ``[x1, x2, *small_views]``, each (N, 3, H, W).
            data_samples: Unused (self-supervised).

        Returns:
            ``dict(loss=ctr(q1, k2) + ctr(q2, k1), acc_top1=...)``; with small views the loss
            is twice the mean over all (query, key) pairs.
        """
        check_views(inputs, 'MoCoV3')
        queries = ([self._queries(inputs[0]), self._queries(inputs[1])]
                   + embed_by_resolution(self._queries, inputs[2:]))
        keys = [self._keys(inputs[0]), self._keys(inputs[1])]
        losses, accuracies = zip(*[self.contrastive_loss(queries[q], keys[k])
                                   for q, k in view_pairs(len(inputs), symmetric=True)])
        loss = (losses[0] + losses[1] if len(losses) == 2
                else 2 * torch.stack(losses).mean())
        return dict(loss=loss, acc_top1=torch.stack(accuracies).mean())
