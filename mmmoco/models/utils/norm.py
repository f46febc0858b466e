"""Normalisation layers selected by ``norm_cfg``: BN (1-d and 2-d), SyncBN, LayerNorm, split BN.

Split BN computes batch statistics over ``num_splits`` equal-as-possible sub-batches of the
mini-batch, as if each sub-batch sat on its own device. MoCo uses it on a single device to
emulate Shuffle BN: without it, a query and its positive key share one set of batch statistics
and the network can "cheat" through them (He et al. 2020, Sec. 3.3).
"""
import logging
from typing import Callable, Dict, List

import torch
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from torch import nn

from mmmoco.ops import native_split_batch_norm


def split_sizes(batch: int, num_splits: int) -> List[int]:
    """Sizes of the contiguous sub-batches of split BN, as equal as possible.

    Args:
        batch: Number of samples N.
        num_splits: Number of sub-batches S (fewer if N < S: one sample each).

    Returns:
        ``min(N, S)`` sizes summing to N; the first ``N % S`` hold one sample more.
    """
    splits = min(num_splits, batch)
    small, larger = divmod(batch, splits)
    return [small + 1] * larger + [small] * (splits - larger)


def sequential_momenta(momentum: float, splits: int) -> List[float]:
    """Update factors that make ``splits`` successive running-statistics updates average.

    Updating a running statistic r with sub-batch k's statistic s_k as
    ``r <- (1 - a_k) r + a_k s_k`` for k = 1..S with ``a_k = m / (S - (S - k) m)`` gives
    ``(1 - m) r + m * mean_k(s_k)``: one momentum-m update with the mean over the sub-batches,
    what averaging S separately updated running buffers gives (the weight left on r after
    step k is ``1 - (S - k) m / S``).

    Args:
        momentum: The layer's update factor m, in [0, 1].
        splits: Number of sub-batches S.

    Returns:
        The S factors a_1..a_S.
    """
    return [momentum / (splits - (splits - k) * momentum) for k in range(1, splits + 1)]


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics come from ``num_splits`` sub-batches.

    The state dict is that of :class:`torch.nn.BatchNorm2d` (same keys and shapes), so a model
    trained with split BN loads into one with plain BN and vice versa. In eval mode it is exactly
    BatchNorm2d. Sub-batches are contiguous, as the per-device batches of a data-parallel run
    (:func:`split_sizes`: the first ``N % S`` of the S sub-batches hold one sample more). A
    contiguous sub-batch is a view of the batch in either memory format, NCHW or channels_last,
    so each is normalised by torch's own batch norm without a layout copy, and the output keeps
    the input's memory format; the one copy is the concatenation of the sub-batches' outputs
    (and its counterpart in the backward pass). The running statistics end each forward as one
    momentum update with the mean over the sub-batches of their means and unbiased variances
    (what averaging ``num_splits`` separately updated running buffers would give), reached by
    successive updates of the layer's own buffers (:func:`sequential_momenta`).

    Args:
        num_features: Number of channels.
        num_splits: Number of virtual devices the batch is split over. A batch smaller than
            ``num_splits`` is split into as many sub-batches as it has samples.
        **kwargs: Passed to :class:`torch.nn.BatchNorm2d`.
    """

    def __init__(self, num_features: int, num_splits: int = 8, **kwargs) -> None:
        if isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 1:
            raise ValueError(f'SplitBN num_splits must be an int >= 1, got {num_splits!r}')
        super().__init__(num_features, **kwargs)
        self.num_splits = num_splits

    def _momentum(self) -> float:
        """Count this forward and return the running-statistics update factor."""
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (N, C, H, W) with per-sub-batch statistics in training mode.

        Args:
            x: Input feature map, in any memory format.

        Returns:
            The normalised feature map, same shape and memory format as ``x``.
        """
        if not self.training or self.num_splits == 1:
            return super().forward(x)
        sizes = split_sizes(x.shape[0], self.num_splits)
        if sizes[-1] * x.shape[2:].numel() == 1:
            raise ValueError(f'SplitBatchNorm2d: a sub-batch of {sizes[-1]} sample of '
                             f'{tuple(x.shape[2:])} has one value per channel, so no batch '
                             f'statistics (batch {x.shape[0]}, num_splits {self.num_splits}): '
                             'use a larger batch or fewer splits (single_device_bn_splits)')
        momentum = self._momentum() if self.track_running_stats else 0.0
        native = native_split_batch_norm(x, self.weight, self.bias, self.running_mean,
                                         self.running_var, self.num_splits, momentum, self.eps)
        if native is not None:
            return native
        # split_with_sizes, not tensor_split: its backward is one concatenation, where
        # tensor_split's slices would each scatter into a zero-filled batch-sized gradient
        parts = x.split(sizes)
        momenta = [0.0] * len(parts)
        if self.track_running_stats:
            momenta = sequential_momenta(momentum, len(parts))
        return torch.cat([
            torch.batch_norm(part, self.weight, self.bias, self.running_mean, self.running_var,
                             True, factor, self.eps, torch.backends.cudnn.enabled)
            for part, factor in zip(parts, momenta)])

    def extra_repr(self) -> str:
        """Describe the layer, including its number of splits."""
        return f'{super().extra_repr()}, num_splits={self.num_splits}'


def _batch_norm(ndim: int) -> Callable[..., nn.Module]:
    """BatchNorm1d for vectors (MLP heads), BatchNorm2d for feature maps."""
    return nn.BatchNorm1d if ndim == 1 else nn.BatchNorm2d


def _layer_norm(num_features: int, affine: bool = True, **kwargs) -> nn.LayerNorm:
    """LayerNorm over the last dimension; ``affine`` maps to ``elementwise_affine``."""
    return nn.LayerNorm(num_features, elementwise_affine=affine, **kwargs)


def _split_bn(ndim: int) -> Callable[..., nn.Module]:
    """Split BN exists for 2-d feature maps (a ResNet's key encoder) only."""
    if ndim != 2:
        raise ValueError('norm_cfg type SplitBN is for 2-d feature maps (ndim=2), got '
                         f'ndim={ndim}')
    return SplitBatchNorm2d


#: norm_cfg type -> builder of the layer class for a given number of spatial dimensions.
NORM_LAYERS: Dict[str, Callable[[int], Callable[..., nn.Module]]] = {
    'BN': _batch_norm,
    'BN1d': lambda ndim: nn.BatchNorm1d,
    'BN2d': lambda ndim: nn.BatchNorm2d,
    'SyncBN': lambda ndim: nn.SyncBatchNorm,
    'SplitBN': _split_bn,
    'LN': lambda ndim: _layer_norm,
}


def build_norm_layer(cfg: Dict, num_features: int, ndim: int = 2) -> nn.Module:
    """Build a normalisation layer from a config.

    Args:
        cfg: ``dict(type='BN' | 'BN1d' | 'BN2d' | 'SyncBN' | 'SplitBN' | 'LN',
            requires_grad=True, **kwargs)``; the remaining keys (``eps``, ``momentum``,
            ``affine``, ``num_splits`` for SplitBN) go to the layer. ``affine=False`` gives a
            layer without learnable scale and shift (LayerNorm: ``elementwise_affine=False``).
        num_features: Number of channels (features for 1-d inputs).
        ndim: 1 for (N, C) vectors (MLP heads: ``BN`` is BatchNorm1d), 2 for (N, C, H, W) maps.

    Returns:
        The normalisation layer.

    Raises:
        TypeError: If ``cfg`` is not a dict.
        KeyError: If ``cfg['type']`` is not a known normalisation layer.
        ValueError: If ``ndim`` is not 1 or 2, or the type does not exist for ``ndim``.
    """
    if ndim not in (1, 2):
        raise ValueError(f'build_norm_layer: ndim must be 1 or 2, got {ndim}')
    if not isinstance(cfg, dict):
        raise TypeError(f"norm_cfg must be a dict such as dict(type='BN'), got {cfg!r}")
    cfg = dict(cfg)
    layer_type = cfg.pop('type', 'BN')
    if layer_type not in NORM_LAYERS:
        raise KeyError(f'norm_cfg type {layer_type!r} is not one of {sorted(NORM_LAYERS)}')
    requires_grad = cfg.pop('requires_grad', True)
    layer = NORM_LAYERS[layer_type](ndim)(num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer


def convert_to_split_bn(module: nn.Module, num_splits: int) -> nn.Module:
    """Replace every ``BatchNorm2d`` and ``SyncBatchNorm`` in ``module`` by a
    :class:`SplitBatchNorm2d` (SyncBN cannot decouple statistics on a single device).

    Parameters and buffers are kept (the same tensors), so the state dict is unchanged.

    Args:
        module: The module to convert (converted in place where it is not itself a BN layer).
        num_splits: Number of sub-batches of the split BN layers.

    Returns:
        The converted module.
    """
    if type(module) in (nn.BatchNorm2d, nn.SyncBatchNorm):
        split = SplitBatchNorm2d(module.num_features, num_splits, eps=module.eps,
                                 momentum=module.momentum, affine=module.affine,
                                 track_running_stats=module.track_running_stats)
        split.load_state_dict(module.state_dict())
        if module.affine:
            split.weight, split.bias = module.weight, module.bias
        split.train(module.training)
        return split
    for name, child in module.named_children():
        converted = convert_to_split_bn(child, num_splits)
        if converted is not child:
            setattr(module, name, converted)
    return module


def sync_bn_modules(module: nn.Module) -> List[str]:
    """Names of the ``SyncBatchNorm`` layers in ``module``.

    Args:
        module: Any module.

    Returns:
        The qualified names of its SyncBN layers (empty if none).
    """
    return [name for name, m in module.named_modules() if isinstance(m, nn.SyncBatchNorm)]


def revert_sync_bn_without_cuda(module: nn.Module, owner: str = 'model') -> nn.Module:
    """On a machine without CUDA, turn every SyncBN layer into plain BN (one warning).

    torch's SyncBatchNorm refuses CPU tensors in training, so a config written for GPUs (SyncBN
    in MLP heads or a backbone) would not run on CPU. The converted layers keep the parameters
    and buffers (same state dict keys), so checkpoints move freely between the two.

    Args:
        module: The module to convert; returned unchanged where CUDA is available or it has
            no SyncBN layer.
        owner: Name of the module for the warning (e.g. ``'MoCoV3'``).

    Returns:
        The module, with BN in place of SyncBN where converted.
    """
    names = sync_bn_modules(module)
    if not names or torch.cuda.is_available():
        return module
    print_log(f'{owner}: CUDA is not available, so its {len(names)} SyncBN layers run as '
              f'plain BN (batch statistics of each process only)', logger='current',
              level=logging.WARNING)
    return revert_sync_batchnorm(module)
