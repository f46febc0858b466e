"""Training hooks."""
from .checkpoint_hook import AtomicCheckpointHook
from .knn_eval_hook import KNNEvalHook
from .momentum_update import MomentumUpdateHook, momentum_update_, optimizer_stepped
from .random_state import RandomStateHook, capture_random_state, restore_random_state

__all__ = ['AtomicCheckpointHook', 'KNNEvalHook', 'MomentumUpdateHook', 'momentum_update_', 'optimizer_stepped', 'RandomStateHook',
           'capture_random_state', 'restore_random_state']
