"""Data preprocessor: uint8 views from the data loader -> normalised float on the model's device,
optionally with on-device batched augmentation."""
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor

from mmmoco.registry import MODELS
from mmmoco.utils.distributed import get_rank
from . import augment  # noqa: F401  (registers the Batch* augmentations)

ImageBatch = Union[torch.Tensor, Sequence[torch.Tensor]]
AugmentCfgs = Sequence[Union[dict, Callable]]

STATE_KEY = 'batch_augment_state'


def _build_augments(cfgs: AugmentCfgs) -> List[Callable]:
    """Build a list of batched augmentations from configs (or keep ready callables).

    Args:
        cfgs: Configs such as ``dict(type='BatchColorJitter', ...)`` or callables.

    Returns:
        The augmentations, in order.

    Raises:
        TypeError: If an entry is neither a config dict nor a callable.
    """
    built = []
    for cfg in cfgs:
        if isinstance(cfg, dict):
            cfg = MODELS.build(cfg)
        if not callable(cfg):
            raise TypeError(f'SelfSupDataPreprocessor: batch_augments entries must be configs '
                            f'of batched augmentations, got {cfg!r}')
        built.append(cfg)
    return built


def step_seed(seed: int, rank: int, step: int) -> int:
    """The seed of one step's augmentation draws, mixed from the run seed, rank and step.

    Args:
        seed: The preprocessor's seed.
        rank: The process's rank (ranks draw differently).
        step: The number of augmented batches before this one.

    Returns:
        A 63-bit seed for ``torch.Generator.manual_seed``.
    """
    words = np.random.SeedSequence([seed, rank, step]).generate_state(2)
    return (int(words[0]) << 31) ^ int(words[1])


@MODELS.register_module()
class SelfSupDataPreprocessor(BaseDataPreprocessor):
    """Stack, move, cast, (optionally) augment and normalise the image views of a batch.

    The pipeline packs uint8 CHW tensors (cheap to collate and to copy to the device); this
    preprocessor turns them into ``(x - mean) / std`` floats on the model's device. It accepts
    both mmengine collate styles: a list of per-sample tensors (``pseudo_collate``) or an
    already stacked tensor (``default_collate``). Data samples (labels, metadata) stay where
    the loader put them: MoCo does not use them, and the models that do move the labels they
    need.

    On-device batched augmentation: with ``batch_augments`` (e.g. ``[dict(type=
    'BatchColorJitter', ...), dict(type='BatchRandomGrayscale', ...), dict(type=
    'BatchGaussianBlur', ...)]``, or one such list per view for asymmetric recipes), training
    batches are augmented on the device, every sample with its own random draw, before the
    normalisation; the loader then only decodes, crops and flips. The draws of each batch come
    from a ``torch.Generator`` on the device seeded from (``seed``, rank, number of augmented
    batches so far); the seed and that count are in the state dict
    (``data_preprocessor.batch_augment_state``), so a resumed run draws exactly what the
    uninterrupted run would have.

    Args:
        mean: Per-channel mean in the 0-255 range, RGB order.
        std: Per-channel standard deviation in the 0-255 range, RGB order.
        to_rgb: Reverse the channel order (for BGR-decoded images).
        non_blocking: Copy to the device asynchronously.
        batch_augments: Batched augmentation configs for every view, or one list per view;
            None or empty disables on-device augmentation.
        seed: Seed of the augmentation draws; None draws one from torch's global generator
            (seeded by the runner's ``randomness.seed``) when ``batch_augments`` is set.
        channels_last: Return the images in ``torch.channels_last`` memory format (NHWC
            strides, same shape), which the convolutions then keep: faster convolutions on
            recent CPUs and on tensor-core GPUs, the same values.
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), to_rgb: bool = False,
                 non_blocking: bool = True,
                 batch_augments: Optional[Union[AugmentCfgs, Sequence[AugmentCfgs]]] = None,
                 seed: Optional[int] = None, channels_last: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std need 3 values with std > 0, got {mean}, {std}')
        self.to_rgb = to_rgb
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        batch_augments = list(batch_augments or [])
        self.per_view = bool(batch_augments) and all(
            isinstance(cfg, (list, tuple)) for cfg in batch_augments)
        self.batch_augments: List[List[Callable]] = (
            [_build_augments(cfgs) for cfgs in batch_augments] if self.per_view
            else [_build_augments(batch_augments)] if batch_augments else [])
        # drawn only when augmenting: configs without batch_augments keep their random stream
        self.augment_seed = (int(seed) if seed is not None else
                             int(torch.randint(2**62, ())) if self.batch_augments else 0)
        self.augment_step = 0
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._generators: Dict[torch.device, torch.Generator] = {}

    def _next_generator(self, device: torch.device) -> torch.Generator:
        """The generator of this batch's draws, seeded for the current step.

        Args:
            device: The device the draws are made on.

        Returns:
            The generator (one per device, re-seeded every step).
        """
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device)
        generator = self._generators[device]
        generator.manual_seed(step_seed(self.augment_seed, get_rank(), self.augment_step))
        self.augment_step += 1
        return generator

    def _augments_of_view(self, index: int, num_views: int) -> List[Callable]:
        """The batched augmentations of view ``index``.

        Args:
            index: The view's index.
            num_views: The number of views in the batch.

        Returns:
            The augmentations to apply, in order.

        Raises:
            ValueError: If per-view augmentations do not match the number of views.
        """
        if not self.per_view:
            return self.batch_augments[0]
        if len(self.batch_augments) != num_views:
            raise ValueError(f'SelfSupDataPreprocessor: batch_augments has '
                             f'{len(self.batch_augments)} per-view lists but the batch has '
                             f'{num_views} views')
        return self.batch_augments[index]

    def _to_device(self, images: ImageBatch) -> torch.Tensor:
        """Stack one view of the batch and move it to the device as float in [0, 255].

        Args:
            images: (N, 3, H, W) tensor or N tensors of shape (3, H, W), any dtype.

        Returns:
            Float tensor (N, 3, H, W) on ``self.device``, RGB.
        """
        if not isinstance(images, torch.Tensor):
            images = torch.stack(list(images))
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'expected images of shape (N, 3, H, W), got {tuple(images.shape)}')
        images = images.to(self.device, non_blocking=self._non_blocking)
        if self.to_rgb:
            images = images.flip(1)
        return images.float()

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a collated batch.

        Args:
            data: ``dict(inputs=..., data_samples=...)``; ``inputs`` is one view (a tensor or
                a list of per-sample tensors) or a list of views for multi-view training.
            training: Apply the batched augmentations (if any).

        Returns:
            ``dict(inputs=..., data_samples=...)`` with a normalised tensor, or a list of them
            (one per view), on the model's device; ``data_samples`` unchanged.
        """
        inputs = data['inputs']
        multi_view = _is_multi_view(inputs)
        views = list(inputs) if multi_view else [inputs]
        generator = (self._next_generator(self.device) if training and self.batch_augments
                     else None)
        outputs = []
        for index, view in enumerate(views):
            images = self._to_device(view)
            if generator is not None:
                # in float32 also inside the AMP context of train_step: the augmentations are
                # specified and tested in float32, and mix float32 and autocast results
                with torch.autocast(images.device.type, enabled=False):
                    for batch_augment in self._augments_of_view(index, len(views)):
                        images = batch_augment(images, generator)
            outputs.append(((images - self.mean) / self.std).contiguous(
                memory_format=self.memory_format))
        return dict(inputs=outputs if multi_view else outputs[0],
                    data_samples=data.get('data_samples'))

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        """Add the augmentation seed and step count to the state dict (with augmentations)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.batch_augments:
            destination[prefix + STATE_KEY] = torch.tensor(
                [self.augment_seed, self.augment_step], dtype=torch.int64)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """Restore the augmentation seed and step count; a checkpoint without them (saved
        without batched augmentation) keeps this preprocessor's own."""
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        key = prefix + STATE_KEY
        if key in unexpected_keys:
            unexpected_keys.remove(key)
        if key in state_dict and self.batch_augments:
            self.augment_seed, self.augment_step = (int(v) for v in state_dict[key].tolist())


def _is_multi_view(inputs: object) -> bool:
    """Whether ``inputs`` is a list of views rather than one batch of images.

    Args:
        inputs: The collated ``inputs`` of a batch.

    Returns:
        True for a list of (N, 3, H, W) tensors or a list of lists of (3, H, W) tensors.
    """
    if isinstance(inputs, torch.Tensor) or not inputs:
        return False
    first = inputs[0]
    return not isinstance(first, torch.Tensor) or first.dim() == 4
