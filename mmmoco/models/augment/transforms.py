"""Random photometric augmentations of a whole batch on its device, one draw per sample.

They mirror the per-image transforms of :mod:`mmmoco.datasets.transforms.photometric`
(same parameters, ranges, probabilities and order of operations, and the same formulas of
:mod:`mmmoco.utils.image_ops`) but run as a few vectorised tensor operations on the model's
device inside the data preprocessor, so the data loader only decodes, crops and flips. Each call
takes the images and the ``torch.Generator`` to draw from.
"""
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence

import torch

from mmmoco.registry import MODELS
from mmmoco.utils import image_ops
from mmmoco.utils.checks import check_non_negative, check_positive_range, check_prob


def _uniform(low: float, high: float, count: int, like: torch.Tensor,
             generator: torch.Generator) -> torch.Tensor:
    """``count`` independent draws from U[low, high) on ``like``'s device."""
    return low + (high - low) * torch.rand(count, device=like.device, generator=generator)


def _chance(prob: float, count: int, like: torch.Tensor,
            generator: torch.Generator) -> torch.Tensor:
    """``count`` independent Bernoulli(``prob``) draws, as a bool tensor."""
    return torch.rand(count, device=like.device, generator=generator) < prob


class BatchAugment(metaclass=ABCMeta):
    """Base of the batched augmentations: ``images, generator -> images``.

    Subclasses implement :meth:`__call__` on a (N, 3, H, W) float batch in [0, 255].
    """

    @abstractmethod
    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch.

        Args:
            images: Float images (N, 3, H, W) with integer values in [0, 255].
            generator: The generator of the random draws, on the images' device.

        Returns:
            The augmented batch, same shape.
        """

    def __repr__(self) -> str:
        """Return the class name and the public attributes."""
        args = ', '.join(f'{key}={value!r}' for key, value in vars(self).items()
                         if not key.startswith('_'))
        return f'{type(self).__name__}({args})'


@MODELS.register_module()
class BatchColorJitter(BatchAugment):
    """Per-sample colour jitter, the batched ``ColorJitter``.

    Each sample is jittered with probability ``prob``; a jittered sample gets brightness,
    contrast and saturation factors drawn uniformly from ``[max(0, 1 - v), 1 + v]`` and a hue
    shift from ``[-hue, hue]``, applied in its own uniformly random order of the four
    adjustments (an argument of 0 disables its adjustment). Brightness, contrast and saturation
    are one blend per position in the order: every sample blends with its own reference (0,
    its mean grey level or its grey image) and factor, 1 where the sample's adjustment at that
    position is another one; the hue shift runs only on the samples whose adjustment at that
    position is hue.

    Args:
        brightness: Brightness jitter strength (>= 0).
        contrast: Contrast jitter strength (>= 0).
        saturation: Saturation jitter strength (>= 0).
        hue: Hue jitter strength, in [0, 0.5].
        prob: Probability of jittering a sample at all.
    """

    def __init__(self, brightness: float = 0., contrast: float = 0., saturation: float = 0.,
                 hue: float = 0., prob: float = 1.0) -> None:
        self.brightness = check_non_negative(brightness, 'BatchColorJitter: brightness')
        self.contrast = check_non_negative(contrast, 'BatchColorJitter: contrast')
        self.saturation = check_non_negative(saturation, 'BatchColorJitter: saturation')
        self.hue = check_non_negative(hue, 'BatchColorJitter: hue')
        if self.hue > 0.5:
            raise ValueError(f'BatchColorJitter: hue must be in [0, 0.5], got {hue!r}')
        self.prob = check_prob(prob, 'BatchColorJitter: prob')

    def sample(self, images: torch.Tensor, generator: torch.Generator) -> dict:
        """Draw every sample's jitter.

        Args:
            images: The batch (N, 3, H, W), for its size and device.
            generator: The generator to draw from.

        Returns:
            ``dict(order=(N, 4) long, factors=(N, 3) float, shift=(N,) float)``: the order of
            the adjustments (0 brightness, 1 contrast, 2 saturation, 3 hue), the blend factors
            (1 where disabled or not jittered) and the hue shifts (0 likewise).
        """
        count = images.shape[0]
        jittered = _chance(self.prob, count, images, generator)
        order = torch.argsort(torch.rand(count, 4, device=images.device, generator=generator),
                              dim=1)
        factors = torch.ones(count, 3, device=images.device)
        for column, strength in enumerate((self.brightness, self.contrast, self.saturation)):
            if strength > 0:
                factors[:, column] = _uniform(max(0., 1 - strength), 1 + strength, count,
                                              images, generator)
        shift = (_uniform(-self.hue, self.hue, count, images, generator) if self.hue > 0
                 else torch.zeros(count, device=images.device))
        factors = torch.where(jittered.unsqueeze(1), factors, torch.ones_like(factors))
        return dict(order=order, factors=factors, shift=torch.where(jittered, shift, 0.))

    def apply(self, images: torch.Tensor, order: torch.Tensor, factors: torch.Tensor,
              shift: torch.Tensor) -> torch.Tensor:
        """Jitter a batch with given parameters (see :meth:`sample`).

        Args:
            images: Float images (N, 3, H, W) in [0, 255].
            order: Order of the adjustments per sample (N, 4).
            factors: Brightness, contrast and saturation factors (N, 3).
            shift: Hue shifts (N,).

        Returns:
            The jittered batch.
        """
        for position in range(4):
            adjustment = order[:, position]
            factor = torch.where(adjustment < 3, factors.gather(1, adjustment.clamp(max=2)
                                                                .unsqueeze(1)).squeeze(1), 1.)
            grey = image_ops.gray(images)
            reference = torch.where(image_ops.per_image(adjustment == 1),
                                    image_ops.mean_level(grey),
                                    torch.where(image_ops.per_image(adjustment == 2), grey, 0.))
            images = image_ops.blend(images, reference, factor)
            hued = torch.nonzero((adjustment == 3) & (shift != 0)).squeeze(1)
            if hued.numel():
                images[hued] = image_ops.adjust_hue(images[hued], shift[hued])
        return images

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Jitter a batch, each sample with its own random draw.

        Args:
            images: Float images (N, 3, H, W) in [0, 255].
            generator: The generator to draw from.

        Returns:
            The jittered batch.
        """
        return self.apply(images, **self.sample(images, generator))


@MODELS.register_module()
class BatchRandomGrayscale(BatchAugment):
    """Per-sample grayscale (ITU-R 601 luma) with probability ``prob``.

    Args:
        prob: The conversion probability.
    """

    def __init__(self, prob: float = 0.2) -> None:
        self.prob = check_prob(prob, 'BatchRandomGrayscale: prob')

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Convert a random subset of the batch to grayscale.

        Args:
            images: Float images (N, 3, H, W) in [0, 255].
            generator: The generator to draw from.

        Returns:
            The batch, each sample grayscale with probability ``prob``.
        """
        chosen = _chance(self.prob, images.shape[0], images, generator)
        return torch.where(image_ops.per_image(chosen), image_ops.grayscale(images), images)


@MODELS.register_module()
class BatchGaussianBlur(BatchAugment):
    """Per-sample Gaussian blur of random sigma with probability ``prob``.

    Args:
        sigma: Range (low, high) of the uniformly drawn standard deviation, in pixels.
        prob: The blur probability.
        kernel_size: An odd kernel size; ``None`` derives ``2 * ceil(3 * sigma) + 1`` per
            sample.
    """

    def __init__(self, sigma: Sequence[float] = (0.1, 2.0), prob: float = 0.5,
                 kernel_size: Optional[int] = None) -> None:
        self.sigma = check_positive_range(sigma, 'BatchGaussianBlur: sigma')
        self.prob = check_prob(prob, 'BatchGaussianBlur: prob')
        if kernel_size is not None and (not isinstance(kernel_size, int) or kernel_size < 1
                                        or kernel_size % 2 == 0):
            raise ValueError(f'BatchGaussianBlur: kernel_size must be None or a positive odd '
                             f'int, got {kernel_size!r}')
        self.kernel_size = kernel_size

    def sample(self, images: torch.Tensor, generator: torch.Generator) -> dict:
        """Draw which samples are blurred and their sigmas.

        Args:
            images: The batch (N, 3, H, W), for its size and device.
            generator: The generator to draw from.

        Returns:
            ``dict(blurred=(N,) bool, sigma=(N,) float)``.
        """
        count = images.shape[0]
        blurred = _chance(self.prob, count, images, generator)
        return dict(blurred=blurred, sigma=_uniform(*self.sigma, count, images, generator))

    def apply(self, images: torch.Tensor, blurred: torch.Tensor,
              sigma: torch.Tensor) -> torch.Tensor:
        """Blur the chosen samples with their sigmas.

        Args:
            images: Float images (N, 3, H, W) in [0, 255].
            blurred: Which samples to blur (N,).
            sigma: Per-sample sigmas (N,).

        Returns:
            The batch with the chosen samples blurred.
        """
        chosen = torch.nonzero(blurred).squeeze(1)
        if chosen.numel():
            images = images.clone()
            images[chosen] = image_ops.gaussian_blur(images[chosen], sigma[chosen],
                                                     self.sigma[1], self.kernel_size)
        return images

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Blur a random subset of the batch.

        Args:
            images: Float images (N, 3, H, W) in [0, 255].
            generator: The generator to draw from.

        Returns:
            The batch, each sample blurred with probability ``prob``.
        """
        return self.apply(images, **self.sample(images, generator))


@MODELS.register_module()
class BatchSolarize(BatchAugment):
    """Per-sample solarization (``255 - x`` where ``x >= threshold``) with probability ``prob``
    (BYOL and MoCo v3 use it on one of the two views).

    Args:
        threshold: The first inverted value, an int in [0, 256] (256 inverts nothing), as
            the per-image ``Solarize``.
        prob: The solarization probability.
    """

    def __init__(self, threshold: int = 128, prob: float = 0.2) -> None:
        if (not isinstance(threshold, int) or isinstance(threshold, bool)
                or not 0 <= threshold <= 256):
            raise ValueError(f'BatchSolarize: threshold must be an int in [0, 256], '
                             f'got {threshold!r}')
        self.threshold = threshold
        self.prob = check_prob(prob, 'BatchSolarize: prob')

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Solarize a random subset of the batch.

        Args:
            images: Float images (N, 3, H, W) in [0, 255].
            generator: The generator to draw from.

        Returns:
            The batch, each sample solarized with probability ``prob``.
        """
        chosen = _chance(self.prob, images.shape[0], images, generator)
        return torch.where(image_ops.per_image(chosen), image_ops.solarize(images, self.threshold),
                           images)
