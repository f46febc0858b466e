"""Optimizers and optimizer wrappers (registered in mmmoco's OPTIMIZERS / OPTIM_WRAPPERS)."""
from .amp_optim_wrapper import AmpOptimWrapper
from .lars import LARS

__all__ = ['AmpOptimWrapper', 'LARS']
