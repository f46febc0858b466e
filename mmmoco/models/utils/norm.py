"""Normalisation layers selected by ``norm_cfg``: BN, SyncBN and split BN.

Split BN computes batch statistics over ``num_splits`` equal-as-possible sub-batches of the
mini-batch, as if each sub-batch sat on its own device. MoCo uses it on a single device to
emulate Shuffle BN: without it, a query and its positive key share one set of batch statistics
and the network can "cheat" through them (He et al. 2020, Sec. 3.3).
"""
from typing import Dict, Type

import torch
import torch.nn.functional as F
from torch import nn



class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics come from ``num_splits`` sub-batches.

    The state dict is that of :class:`torch.nn.BatchNorm2d` (same keys and shapes), so a model
    trained with split BN loads into one with plain BN and vice versa. In eval mode it is exactly
    BatchNorm2d. The running statistics are updated once per forward with the mean over the
    sub-batches of their means and unbiased variances, which is what averaging ``num_splits``
    separately updated running buffers would give.

    Args:
        num_features: Number of channels.
        num_splits: Number of virtual devices the batch is split over. A batch smaller than
            ``num_splits`` is split into as many sub-batches as it has samples.
        **kwargs: Passed to :class:`torch.nn.BatchNorm2d`.
    """

    def __init__(self, num_features: int, num_splits: int = 8, **kwargs) -> None:
        if num_splits < 1:
            raise ValueError(f'SplitBN num_splits must be >= 1, got {num_splits}')
        super().__init__(num_features, **kwargs)
        self.num_splits = num_splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (N, C, H, W) with per-sub-batch statistics in training mode.

        Args:
            x: Input feature map.

        Returns:
            The normalised feature map, same shape as ``x``.
        """
        if not self.training or self.num_splits == 1:
            return super().forward(x)
        chunks = torch.tensor_split(x, min(self.num_splits, x.shape[0]), dim=0)
        outputs, means, variances = [], [], []
        for chunk in chunks:
            outputs.append(F.batch_norm(chunk, None, None, self.weight, self.bias, True, 0.0,
                                        self.eps))
            if self.track_running_stats:
                with torch.no_grad():
                    count = chunk.numel() / chunk.shape[1]
                    means.append(chunk.mean(dim=(0, 2, 3)))
                    variances.append(chunk.var(dim=(0, 2, 3), unbiased=False) * count
                                     / max(count - 1, 1))
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                self.running_mean.lerp_(torch.stack(means).mean(0).to(self.running_mean.dtype),
                                        momentum)
                self.running_var.lerp_(torch.stack(variances).mean(0).to(self.running_var.dtype),
                                       momentum)
        return torch.cat(outputs, dim=0)

    def extra_repr(self) -> str:
        """Describe the layer, including its number of splits."""
        return f'{super().extra_repr()}, num_splits={self.num_splits}'



NORM_LAYERS: Dict[str, Type[nn.BatchNorm2d]] = {
    'BN': nn.BatchNorm2d,
    'SyncBN': nn.SyncBatchNorm,
    'SplitBN': SplitBatchNorm2d,
}


def build_norm_layer(cfg: Dict, num_features: int) -> nn.Module:
    """Build a 2d normalisation layer from a config.

    Args:
        cfg: ``dict(type='BN' | 'SyncBN' | 'SplitBN', requires_grad=True, **kwargs)``; the
            remaining keys (``eps``, ``momentum``, ``num_splits`` for SplitBN) go to the layer.
        num_features: Number of channels.

    Returns:
        The normalisation layer.

    Raises:
        KeyError: If ``cfg['type']`` is not a known normalisation layer.
    """
    cfg = dict(cfg)
    layer_type = cfg.pop('type', 'BN')
    if layer_type not in NORM_LAYERS:
        raise KeyError(f'norm_cfg type {layer_type!r} is not one of {sorted(NORM_LAYERS)}')
    requires_grad = cfg.pop('requires_grad', True)
    layer = NORM_LAYERS[layer_type](num_features, **cfg)
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
