"""The res5 RoI head of MoCo's R50-C4 detectors: mmdet's ``ResLayer`` plus a norm layer.

MoCo's detectron2 configs (``Res5ROIHeadsExtraNorm`` in facebookresearch/moco's
``detection/train_net.py``) append a normalization layer, of the backbone's norm type, to the
output of res5, the ResNet stage that the C4 box and mask heads run on each region. Importing
this module registers :class:`ResLayerExtraNorm` in mmdet's model registry; the wrapper
``downstream_train.py`` next to it does so before building an mmdet config.
"""
from mmcv.cnn import build_norm_layer
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ResLayerExtraNorm(ResLayer):
    """mmdet's ``ResLayer`` shared head followed by a norm layer built from ``norm_cfg``.

    The norm layer (``extra_norm``) is new: pretrained ResNet weights cannot hold it, which
    :data:`not_pretrained` tells the wrapper's weight check. Arguments are ``ResLayer``'s.
    """

    #: Children that pretrained ResNet weights do not cover.
    not_pretrained = ('extra_norm',)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        last_block = getattr(self, f'layer{self.stage + 1}')[-1]
        _, self.extra_norm = build_norm_layer(self.norm_cfg, last_block.conv3.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Run res5 on the region features, then the norm layer.

        Args:
            x: Pooled region features, (N, C, H, W).

        Returns:
            The normalized res5 output.
        """
        return self.extra_norm(super().forward(x))
