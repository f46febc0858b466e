"""Building blocks shared by mmmoco's models."""
from .grad_cache import cached_embedding
from .key_queue import KeyQueue
from .norm import (NORM_LAYERS, SplitBatchNorm2d, build_norm_layer, convert_to_split_bn,
                   revert_sync_bn_without_cuda, sync_bn_modules)
from .precision import autocast_off, float32_head

__all__ = ['KeyQueue', 'NORM_LAYERS', 'SplitBatchNorm2d', 'autocast_off', 'build_norm_layer',
           'cached_embedding', 'convert_to_split_bn', 'float32_head',
           'revert_sync_bn_without_cuda', 'sync_bn_modules']
