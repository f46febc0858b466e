"""Training hooks."""
from .checkpoint_hook import AtomicCheckpointHook
from .knn_eval_hook import KNNEvalHook
from .momentum_update import MomentumUpdateHook, momentum_update_, optimizer_stepped
from .pretrained_loaded import PretrainedLoadedHook
from .rankme_hook import RankMeHook
from .random_state import RandomStateHook, capture_random_state, restore_random_state

__all__ = ['AtomicCheckpointHook', 'KNNEvalHook', 'MomentumUpdateHook', 'PretrainedLoadedHook',
           'RandomStateHook', 'RankMeHook', 'capture_random_state', 'momentum_update_',
           'optimizer_stepped', 'restore_random_state']
