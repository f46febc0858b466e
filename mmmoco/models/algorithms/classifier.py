"""Image classifier on a (frozen or fine-tuned) pretrained backbone, for linear evaluation
and semi-supervised fine-tuning."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import nn

from mmmoco.models.utils.pooling import pooled_features
from mmmoco.models.utils.pretrained import load_pretrained_backbone
from mmmoco.registry import MODELS
from mmmoco.structures import DataSample


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """Backbone -> global average pooling of the last stage -> one fc layer.

    With ``freeze_backbone=True`` (linear evaluation, He et al. 2020 Sec. 4.1) every backbone
    parameter is frozen, its BN layers stay in eval mode (running statistics never change) and
    the backbone runs without autograd. With ``freeze_backbone=False`` the whole network is
    fine-tuned (semi-supervised protocol).

    Args:
        backbone: Backbone config.
        num_classes: Number of classes.
        in_channels: Channels of the backbone's last feature map.
        pretrained: Checkpoint (mmmoco training checkpoint or extracted backbone) loaded into
            the backbone by :meth:`init_weights`; every weight must match.
        freeze_backbone: Linear evaluation (True) or fine-tuning (False).
        feature_norm: Standardise the pooled features with a non-affine BatchNorm1d (part of the
            trained head, not the backbone) before the fc; makes the linear probe's learning
            rate insensitive to the feature scale, as in MAE's linear probing.
        data_preprocessor: Data preprocessor config.
        init_cfg: mmengine init config.
    """

    def __init__(self, backbone: dict, num_classes: int, in_channels: int,
                 pretrained: Optional[str] = None, freeze_backbone: bool = True,
                 feature_norm: bool = False, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if num_classes < 2:
            raise ValueError(f'ImageClassifier needs num_classes >= 2, got {num_classes}')
        self.backbone = MODELS.build(backbone)
        self.feature_norm = (nn.BatchNorm1d(in_channels, affine=False) if feature_norm
                             else nn.Identity())
        self.fc = nn.Linear(in_channels, num_classes)
        self.pretrained = pretrained
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            for param in self.backbone.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Initialise the backbone, load the pretrained weights, and zero-mean init the fc
        (normal, std 0.01; bias 0), as in the MoCo linear protocol."""
        super().init_weights()
        if self.pretrained:
            load_pretrained_backbone(self.backbone, self.pretrained)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def train(self, mode: bool = True) -> 'ImageClassifier':
        """Set the training mode; a frozen backbone always stays in eval mode.

        Args:
            mode: Training (True) or evaluation (False).

        Returns:
            This model.
        """
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Pooled last-stage features (a ResNet map, averaged) or a ViT class token.

        Args:
            inputs: Normalised images (N, 3, H, W).

        Returns:
            Features (N, C).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            return pooled_features(self.backbone(inputs))

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """mmengine entry point.

        Args:
            inputs: Normalised images (N, 3, H, W).
            data_samples: Records with ``gt_label`` (needed for ``'loss'``).
            mode: ``'loss'``, ``'predict'`` (data samples with ``pred_score``) or ``'tensor'``
                (logits).

        Returns:
            The loss dict, the data samples, or the logits.
        """
        logits = self.fc(self.feature_norm(self.extract_feat(inputs)))
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = torch.stack([sample.gt_label for sample in data_samples]).to(logits.device)
            return dict(loss=F.cross_entropy(logits, labels))
        if mode == 'predict':
            for sample, score in zip(data_samples, logits.softmax(dim=1)):
                sample.pred_score = score.detach()
            return data_samples
        raise ValueError(f'ImageClassifier mode must be loss, predict or tensor, got {mode!r}')
