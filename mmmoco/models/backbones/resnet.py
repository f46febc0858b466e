"""ResNet backbone whose module tree and state dict match torchvision's (without ``fc``).

The stride of a down-sampling block sits on its 3x3 convolution (ResNet v1.5, the 'pytorch'
style of OpenMMLab), so weights move freely between this backbone, torchvision's ``resnetXX``
and the plain ``ResNet`` backbones of mmdet and mmseg.
"""
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models.resnet import BasicBlock, Bottleneck

from mmmoco.models.utils import build_norm_layer
from mmmoco.registry import MODELS

Block = Union[BasicBlock, Bottleneck]

#: Residual block type and number of blocks per stage, for each supported depth.
ARCH_SETTINGS: Dict[int, Tuple[Type[Block], Tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

NUM_STAGES = 4
#: Width (``base_channels``) of the standard ResNet, whose weights load into torchvision.
STANDARD_BASE_CHANNELS = 64


def make_stage(block: Type[Block], in_channels: int, planes: int, num_blocks: int, stride: int,
               norm_layer: Callable[[int], nn.Module]) -> nn.Sequential:
    """Build one residual stage (torchvision's ``layerN``).

    Args:
        block: Residual block class, :class:`BasicBlock` or :class:`Bottleneck`.
        in_channels: Channels entering the stage.
        planes: Base width of the stage; it outputs ``planes * block.expansion`` channels.
        num_blocks: Number of residual blocks.
        stride: Stride of the first block (on its 3x3 convolution and its shortcut).
        norm_layer: Builds a normalisation layer from a channel count.

    Returns:
        The stage, a sequence of blocks named ``0``, ``1``, ...
    """
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            norm_layer(out_channels))
    blocks = [block(in_channels, planes, stride, downsample, norm_layer=norm_layer)]
    blocks += [block(out_channels, planes, norm_layer=norm_layer) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def last_norm(block: Block) -> nn.Module:
    """Return the normalisation layer that closes the residual branch of ``block``.

    Args:
        block: A :class:`BasicBlock` or :class:`Bottleneck`.

    Returns:
        ``bn3`` of a bottleneck block, ``bn2`` of a basic block.
    """
    return block.bn3 if isinstance(block, Bottleneck) else block.bn2


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet backbone returning the feature maps of selected stages.

    Args:
        depth: Network depth, one of 18, 34, 50, 101, 152.
        in_channels: Channels of the input image.
        out_indices: Stages (0 to 3, i.e. ``layer1`` to ``layer4``) whose outputs are returned,
            in this order.
        frozen_stages: -1 freezes nothing, 0 freezes the stem (``conv1``, ``bn1``) and ``i``
            (1 to 4) freezes the stem and ``layer1`` to ``layer{i}``: their parameters do not
            require grad and their BN layers stay in eval mode.
        norm_cfg: Config of the normalisation layers, see
            :func:`mmmoco.models.utils.build_norm_layer`.
        norm_eval: Keep every BN layer in eval mode (frozen running statistics) while training.
        zero_init_residual: Initialise the last BN weight of every residual block to zero, so
            each block starts as its shortcut.
        small_stem: Stem for 28-64 px images: ``conv1`` is a 3x3 convolution with stride 1 and
            there is no max-pooling. The state dict keys stay the same.
        small_stem_stride: Stride of the small stem's ``conv1`` (1 or 2). 2 halves the
            resolution of every stage (a quarter of the cost), which pays for a twice wider
            network at the cost of the plain small stem. Only with ``small_stem=True``.
        base_channels: Width of the stem and of ``layer1``; stage ``i`` has
            ``base_channels * 2**i`` planes. 64 is the standard ResNet (and the only width
            whose weights load into torchvision); smaller values make a cheaper network for
            small images and CPU runs.
        init_cfg: mmengine initialisation config, e.g. ``dict(type='Pretrained',
            checkpoint=...)``; applied after the default initialisation.

    Attributes:
        out_channels: Channel count of each returned stage, in ``out_indices`` order.

    Raises:
        ValueError: If ``depth``, ``out_indices``, ``frozen_stages``, ``small_stem_stride`` or
            ``base_channels`` is not supported.
    """

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_cfg: Optional[Dict] = None,
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 small_stem: bool = False,
                 small_stem_stride: int = 1,
                 base_channels: int = STANDARD_BASE_CHANNELS,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in ARCH_SETTINGS:
            raise ValueError(f'ResNet depth must be one of {sorted(ARCH_SETTINGS)}, got {depth}')
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(NUM_STAGES) for i in out_indices):
            raise ValueError(f'ResNet out_indices must be a non-empty sequence of stage indices '
                             f'in 0..{NUM_STAGES - 1}, got {out_indices}')
        if len(set(out_indices)) != len(out_indices):
            raise ValueError(f'ResNet out_indices must not repeat a stage, got {out_indices}')
        if frozen_stages not in range(-1, NUM_STAGES + 1):
            raise ValueError(f'ResNet frozen_stages must be in -1..{NUM_STAGES}, '
                             f'got {frozen_stages}')
        if small_stem_stride not in (1, 2) or isinstance(small_stem_stride, bool):
            raise ValueError(f'ResNet small_stem_stride must be 1 or 2, got {small_stem_stride!r}')
        if small_stem_stride != 1 and not small_stem:
            raise ValueError('ResNet small_stem_stride applies to the small stem only: set '
                             'small_stem=True or leave small_stem_stride at 1')
        if not isinstance(base_channels, int) or base_channels < 1:
            raise ValueError(f'ResNet base_channels must be a positive int, got {base_channels!r}')
        self.depth = depth
        self.base_channels = base_channels
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.small_stem = small_stem
        self.small_stem_stride = small_stem_stride

        norm_layer = partial(build_norm_layer, norm_cfg or dict(type='BN', requires_grad=True))
        self._build_stem(in_channels, norm_layer)
        block, stage_blocks = ARCH_SETTINGS[depth]
        channels = base_channels
        for index, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**index
            stage = make_stage(block, channels, planes, num_blocks, 1 if index == 0 else 2,
                               norm_layer)
            self.add_module(f'layer{index + 1}', stage)
            channels = planes * block.expansion
        self.out_channels = [base_channels * 2**i * block.expansion for i in out_indices]
        self._freeze_stages()

    @property
    def feat_dims(self) -> List[int]:
        """Channel count of each returned stage (same as :attr:`out_channels`)."""
        return self.out_channels

    def _build_stem(self, in_channels: int, norm_layer: Callable[[int], nn.Module]) -> None:
        """Create ``conv1``, ``bn1``, ``relu`` and ``maxpool`` (identity with the small stem).

        Args:
            in_channels: Channels of the input image.
            norm_layer: Builds a normalisation layer from a channel count.
        """
        if self.small_stem:
            self.conv1 = nn.Conv2d(in_channels, self.base_channels, 3,
                                   stride=self.small_stem_stride, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, self.base_channels, 7, stride=2, padding=3,
                                   bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = norm_layer(self.base_channels)
        self.relu = nn.ReLU(inplace=True)

    def _frozen_modules(self) -> List[nn.Module]:
        """Return the modules covered by ``frozen_stages``.

        Returns:
            The stem layers followed by ``layer1`` .. ``layer{frozen_stages}``.
        """
        if self.frozen_stages < 0:
            return []
        stages = [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
        return [self.conv1, self.bn1, *stages]

    def _freeze_stages(self) -> None:
        """Put the frozen modules in eval mode and stop their parameters requiring grad."""
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Apply the default initialisation, then ``init_cfg`` (e.g. a pretrained checkpoint).

        Convolutions get Kaiming normal (fan out) weights, BN layers weight 1 and bias 0, and
        with ``zero_init_residual`` the last BN weight of every block is zero.
        """
        if not self.is_init:
            self._init_default_weights()
        super().init_weights()

    def _init_default_weights(self) -> None:
        """Initialise convolutions and BN layers as torchvision does."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(module, _BatchNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(last_norm(module).weight)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Run the stem and the four stages.

        Args:
            x: Images of shape (N, in_channels, H, W).

        Returns:
            The output of each stage in ``out_indices``, in that order.
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        stage_outputs = []
        for index in range(NUM_STAGES):
            x = getattr(self, f'layer{index + 1}')(x)
            stage_outputs.append(x)
        return tuple(stage_outputs[i] for i in self.out_indices)

    def train(self, mode: bool = True) -> 'ResNet':
        """Set training mode, keeping frozen stages and (with ``norm_eval``) BN in eval mode.

        Args:
            mode: Whether to set training mode.

        Returns:
            This module.
        """
        super().train(mode)
        if mode:
            for module in self._frozen_modules():
                module.eval()
            if self.norm_eval:
                for module in self.modules():
                    if isinstance(module, _BatchNorm):
                        module.eval()
        return self
