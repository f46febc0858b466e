"""Runner, its train loop and checkpoint handling."""
from .finite import NonFiniteError
from .moco_runner import MoCoRunner
from .train_loop import ExactResumeEpochBasedTrainLoop

__all__ = ['ExactResumeEpochBasedTrainLoop', 'MoCoRunner', 'NonFiniteError']
