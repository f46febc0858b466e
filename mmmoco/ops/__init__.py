"""Native (C++) operators, compiled on first use with torch's extension builder.

Each operator has a pure PyTorch fallback in the module that uses it: a machine without a C++
compiler (or with ``MMMOCO_NATIVE_OPS=0``) runs the same computation, only slower.
"""
from .split_batch_norm import native_split_batch_norm, split_batch_norm_op_available

__all__ = ['native_split_batch_norm', 'split_batch_norm_op_available']
