"""Base of the models that keep a momentum (EMA) copy of some of their modules: MoCo v1/v2/v3."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModel
from torch import nn

from mmmoco.models.utils import revert_sync_bn_without_cuda
from mmmoco.utils.checks import check_unit_interval


class MomentumSchedule:
    """The momentum m of the EMA update ``k <- m * k + (1 - m) * q``, per optimizer step.

    Constant ``start`` (MoCo v1/v2: 0.999), or, with ``end``, a half-cosine from ``start`` at
    the first step to ``end`` at the last (MoCo v3, BYOL):
    ``m_t = end - (end - start) * (cos(pi * t / T) + 1) / 2`` with t the number of iterations
    done after this step and T the total.

    Args:
        start: The momentum of the first step, in [0, 1].
        end: The momentum of the last step, in [0, 1], or None for a constant momentum.

    Raises:
        TypeError: If a value is not a number.
        ValueError: If a value is outside [0, 1].
    """

    def __init__(self, start: float = 0.999, end: Optional[float] = None) -> None:
        self.start = check_unit_interval(start, 'model.momentum.start')
        self.end = None if end is None else check_unit_interval(end, 'model.momentum.end')

    @classmethod
    def from_config(cls, cfg) -> 'MomentumSchedule':
        """Build from the model's ``momentum`` argument.

        Args:
            cfg: ``dict(start=..., end=...)`` (``end`` optional).

        Returns:
            The schedule.

        Raises:
            TypeError: If ``cfg`` is not a dict or has other keys.
        """
        if not isinstance(cfg, dict) or set(cfg) - {'start', 'end'}:
            raise TypeError('model.momentum must be dict(start=..., end=...) (end optional: a '
                            f'constant momentum), got {cfg!r}')
        return cls(**cfg)

    def at(self, iteration: int, max_iters: int) -> float:
        """The momentum of the step taken at ``iteration`` (0-based).

        Args:
            iteration: Index of the iteration that just ran.
            max_iters: Total number of training iterations.

        Returns:
            The momentum m.
        """
        if self.end is None:
            return self.start
        progress = min((iteration + 1) / max(max_iters, 1), 1.0)
        return self.end - (self.end - self.start) * (math.cos(math.pi * progress) + 1) / 2


class BaseMomentumModel(BaseModel):
    """A model whose listed modules have frozen momentum copies, kept in step by a hook.

    A subclass builds its modules (at least ``backbone``), then calls
    :meth:`add_momentum_copies` with the names of the online modules to copy (``'backbone'``
    becomes ``momentum_backbone``), and implements :meth:`loss`. The copies get no gradients;
    :meth:`init_weights` makes them exact copies of the initialised online modules. The model
    owns its momentum schedule (``momentum``, :class:`MomentumSchedule`);
    :class:`~mmmoco.engine.hooks.MomentumUpdateHook`, a default hook of every run, reads it
    and moves the copies towards the online modules after each optimizer step through
    :meth:`momentum_pairs`. :meth:`forward` is mmengine's entry point: ``mode='loss'`` trains,
    ``mode='tensor'`` returns the backbone's features.

    Args:
        momentum: The schedule, ``dict(start=m)`` (constant) or ``dict(start=m0, end=m1)``
            (half-cosine per step); each algorithm gives its paper's default.
        data_preprocessor: Config of the data preprocessor (default
            ``SelfSupDataPreprocessor``).
        init_cfg: mmengine init config.
    """

    def __init__(self, momentum: dict, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.momentum_schedule = MomentumSchedule.from_config(momentum)
        self._momentum_names: List[str] = []

    def add_momentum_copies(self, *names: str) -> None:
        """Create the frozen momentum copy of each named module.

        Call it once all modules are built and final (after any norm-layer conversion): on a
        machine without CUDA, every SyncBN layer of the model becomes plain BN first (one
        warning), so a GPU config runs there.

        Args:
            *names: Attribute names of online modules, e.g. ``'backbone', 'neck'``.
        """
        revert_sync_bn_without_cuda(self, type(self).__name__)
        for name in names:
            target = copy.deepcopy(getattr(self, name))
            for param in target.parameters():
                param.requires_grad = False
            setattr(self, f'momentum_{name}', target)
            self._momentum_names.append(name)

    def momentum_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        """The (online, momentum) module pairs that the momentum hook keeps in step.

        Returns:
            ``[(backbone, momentum_backbone), ...]`` in the order of
            :meth:`add_momentum_copies`.
        """
        return [(getattr(self, name), getattr(self, f'momentum_{name}'))
                for name in self._momentum_names]

    def init_weights(self) -> None:
        """Initialise the online modules, then make each momentum copy an exact copy."""
        super().init_weights()
        for online, target in self.momentum_pairs():
            target.load_state_dict(online.state_dict())

    def loss(self, inputs: Sequence[torch.Tensor], data_samples: Optional[list] = None
             ) -> Dict[str, torch.Tensor]:
        """The training loss of one step (implemented by each algorithm).

        Args:
            inputs: The views of the batch.
            data_samples: Per-image records.

        Returns:
            A dict with ``loss`` and logged values.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement loss()')

    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Backbone features of a batch of normalised images (query encoder).

        Args:
            inputs: Images (N, 3, H, W).

        Returns:
            The backbone's output (a tuple of feature maps or class tokens).
        """
        return self.backbone(inputs)

    def forward(self, inputs, data_samples: Optional[list] = None, mode: str = 'tensor'):
        """mmengine entry point.

        Args:
            inputs: The views (``mode='loss'``) or one batch of images (``mode='tensor'``).
            data_samples: Per-image records.
            mode: ``'loss'`` for training, ``'tensor'`` for backbone features.

        Returns:
            The loss dict, or the backbone's output.

        Raises:
            ValueError: For another mode.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f'{type(self).__name__} supports mode "loss" or "tensor", got {mode!r}')
