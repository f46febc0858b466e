"""MoCo v1/v2: momentum contrast with a queue of negatives (He et al. 2020; Chen et al. 2020)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import nn

from mmmoco.models.utils import convert_to_split_bn
from mmmoco.registry import MODELS
from mmmoco.structures import DataSample
from mmmoco.utils.distributed import is_distributed, shuffle_batch, unshuffle_batch


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


@MODELS.register_module()
class MoCo(BaseModel):
    """Momentum Contrast: a query encoder trained by InfoNCE against a momentum key encoder.

    The query encoder is ``backbone`` + ``neck``; the key (momentum) encoder is a copy of both
    that gets no gradients and is moved towards the query encoder by
    :class:`~mmmoco.engine.hooks.MomentumUpdateHook` after each optimizer step. The head owns
    the queue of negatives and the loss.

    Shuffle BN: under DDP the key batch is shuffled across ranks before the key encoder and
    unshuffled after, so a query and its positive key never share BN statistics. On a single
    device the same effect comes from split BN: every ``BatchNorm2d`` of both backbones
    computes its statistics over ``single_device_bn_splits`` sub-batches (one per emulated
    device) and the key batch is permuted before the key encoder.

    Args:
        backbone: Config of the backbone (e.g. ``ResNet``).
        neck: Config of the projection neck.
        head: Config of the contrastive head (e.g. ``MoCoQueueHead``).
        data_preprocessor: Config of the data preprocessor.
        shuffle_bn: Shuffle the key batch before the key encoder (Shuffle BN).
        single_device_bn_splits: Number of split-BN sub-batches when the model is built without
            DDP (world size 1) and ``shuffle_bn`` is on; 1 disables the emulation.
        init_cfg: mmengine init config.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 data_preprocessor: Optional[dict] = None, shuffle_bn: bool = True,
                 single_device_bn_splits: int = 8, init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if single_device_bn_splits < 1:
            raise ValueError(f'single_device_bn_splits must be >= 1, got '
                             f'{single_device_bn_splits}')
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.head = MODELS.build(head)
        self.shuffle_bn = shuffle_bn
        self.split_bn = shuffle_bn and not is_distributed() and single_device_bn_splits > 1
        if self.split_bn:
            convert_to_split_bn(self.backbone, single_device_bn_splits)
        print_log(_shuffle_bn_mode(shuffle_bn, self.split_bn, single_device_bn_splits),
                  logger='current')
        self.momentum_backbone = copy.deepcopy(self.backbone)
        self.momentum_neck = copy.deepcopy(self.neck)
        for param in self._momentum_parameters():
            param.requires_grad = False

    def _momentum_parameters(self) -> List[nn.Parameter]:
        """All parameters of the key encoder."""
        return [p for _, target in self.momentum_pairs() for p in target.parameters()]

    def momentum_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        """The (online, momentum) module pairs that the momentum hook keeps in step.

        Returns:
            ``[(backbone, momentum_backbone), (neck, momentum_neck)]``.
        """
        return [(self.backbone, self.momentum_backbone), (self.neck, self.momentum_neck)]

    def init_weights(self) -> None:
        """Initialise the query encoder, then make the key encoder an exact copy of it."""
        super().init_weights()
        for online, target in self.momentum_pairs():
            target.load_state_dict(online.state_dict())

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Backbone features of a batch of normalised images (query encoder).

        Args:
            inputs: Images (N, 3, H, W).

        Returns:
            The backbone's tuple of feature maps.
        """
        return self.backbone(inputs)

    @torch.no_grad()
    def _keys(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised keys from the momentum encoder, with Shuffle BN if enabled.

        Args:
            images: Key view (N, 3, H, W).

        Returns:
            Keys (N, D) in the order of ``images``.
        """
        if self.shuffle_bn:
            images, perm, sizes = shuffle_batch(images)
        keys = F.normalize(self.momentum_neck(self.momentum_backbone(images)), dim=1)
        if self.shuffle_bn:
            keys = unshuffle_batch(keys, perm, sizes)
        return keys

    def loss(self, inputs: Sequence[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None) -> Dict[str, torch.Tensor]:
        """InfoNCE loss of one step; the step's keys then enter the queue.

        Args:
            inputs: Two views ``[query_images, key_images]``, each (N, 3, H, W).
            data_samples: Unused (self-supervised).

        Returns:
            ``dict(loss=...)``.
        """
        if len(inputs) != 2:
            raise ValueError(f'MoCo needs exactly 2 views per image, got {len(inputs)}')
        query = F.normalize(self.neck(self.backbone(inputs[0])), dim=1)
        keys = self._keys(inputs[1])
        loss = self.head.loss(query, keys)
        self.head.enqueue(keys)
        return dict(loss=loss)

    def forward(self, inputs, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """mmengine entry point.

        Args:
            inputs: Two views (``mode='loss'``) or one batch of images (``mode='tensor'``).
            data_samples: Per-image records.
            mode: ``'loss'`` for training, ``'tensor'`` for backbone features.

        Returns:
            The loss dict, or the backbone's tuple of feature maps.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f'MoCo supports mode "loss" or "tensor", got {mode!r}')
