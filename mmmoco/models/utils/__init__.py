"""Building blocks shared by mmmoco's models."""
from .norm import NORM_LAYERS, SplitBatchNorm2d, build_norm_layer, convert_to_split_bn

__all__ = ['NORM_LAYERS', 'SplitBatchNorm2d', 'build_norm_layer', 'convert_to_split_bn']
