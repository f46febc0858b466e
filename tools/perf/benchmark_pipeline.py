#!/usr/bin/env python
"""Two-view augmentation throughput per core: mmmoco's pipeline against torchvision references.

On the real image files of IMAGE_DIR, one process and one thread (``torch.set_num_threads(1)``,
``cv2.setNumThreads(1)``), it times, interleaved image by image (each image goes through every
implementation in turn, the order rotating, so that a change in the machine's load hits them
alike) in ``--rounds`` rounds over the images:

- ours: the config's training pipeline (decode, ``MultiView`` of two augmented views, packing
  as uint8 tensors); if the config's data preprocessor has ``batch_augments``, their cost on
  this CPU (batches of ``--batch-size``) is added, so the whole recipe is compared, and
  ``ours, loader only`` times the pipeline alone: the CPU's share when the batched
  augmentations run on an accelerator;
- pil: the same recipe with torchvision's classic PIL transforms (``Image.open().convert('RGB')``,
  ``RandomResizedCrop``, ``RandomApply(ColorJitter)``, ``RandomGrayscale``, PIL Gaussian blur of
  random radius as in the MoCo v2 reference, ``RandomHorizontalFlip``, ``PILToTensor``);
- v2: the same recipe with ``torchvision.transforms.v2`` on uint8 tensors decoded by
  ``torchvision.io.decode_image`` (``GaussianBlur`` with the fixed kernel of the largest sigma);
- decode only: the first transform of the config's pipeline (its ``LoadImageFromFile``) alone,
  the ceiling of any pipeline that decodes at full resolution; and the decoding steps of the
  two references alone (PIL, ``torchvision.io``), on the same files.

The parameters (crop size and scale, jitter strengths and probability, grayscale, blur and
solarize probabilities, sigma range) are read from the config. It prints images (each giving
two views) per second per core (by default per second of this process's CPU time, which other
jobs on the machine do not inflate as they do the elapsed time: ``--clock wall``) and the
median over the rounds of the ratios of ours to each row. ``--profile`` adds the time of each
of our transforms per image (those inside ``MultiView`` for both views together).
"""
import argparse
import glob
import math
import os.path as osp
import random
import statistics
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from PIL import Image, ImageFilter

from mmmoco.apis import register_all_modules
from mmmoco.datasets.transforms import build_transforms
from mmmoco.registry import MODELS

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
# everything runs on one thread, so the process's CPU time is the time on one core, without
# the waits for a core that other jobs on the machine cause
CLOCKS = {'cpu': time.process_time, 'wall': time.perf_counter}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a pretraining config (its train pipeline is timed)')
    parser.add_argument('image_dir', help='folder of real images (searched recursively)')
    parser.add_argument('--rounds', type=int, default=4, help='interleaved rounds')
    parser.add_argument('--repeat', type=int, default=1,
                        help='passes over the images per implementation and round')
    parser.add_argument('--batch-size', type=int, default=32,
                        help='batch of the on-device augmentations, when the config has them')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--profile', action='store_true',
                        help='also print the time of each of our transforms per image')
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='cpu',
                        help="'cpu': this process's CPU time (per core, whatever else runs on "
                        "the machine); 'wall': elapsed time")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.repeat < 1 or args.batch_size < 1:
        parser.error('--rounds, --repeat and --batch-size must be >= 1')
    return args


def list_images(image_dir: str) -> List[str]:
    """Every image file under ``image_dir``, sorted.

    Args:
        image_dir: The folder.

    Returns:
        The paths.

    Raises:
        FileNotFoundError: If the folder holds no image.
    """
    paths = sorted(p for p in glob.glob(osp.join(image_dir, '**', '*'), recursive=True)
                   if p.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise FileNotFoundError(f'no image files ({", ".join(IMAGE_SUFFIXES)}) under {image_dir}')
    return paths


def recipe(cfg: Config) -> Dict[str, dict]:
    """The augmentation parameters of the config, by per-image transform type.

    The view pipeline of the first ``MultiView`` of the training pipeline, plus the data
    preprocessor's ``batch_augments`` (``BatchColorJitter`` counts as ``ColorJitter``, etc.).

    Args:
        cfg: A pretraining config.

    Returns:
        Transform type -> its config (``RandomResizedCrop`` is required).

    Raises:
        ValueError: If the pipeline has no MultiView with a RandomResizedCrop.
    """
    steps: Dict[str, dict] = {}
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.get('type') == 'MultiView':
            views = transform['transforms']
            views = views[0] if isinstance(views[0], (list, tuple)) else views
            for step in views:
                steps.setdefault(step['type'], dict(step))
            break
    augments = cfg.model.get('data_preprocessor', {}).get('batch_augments') or []
    augments = augments[0] if augments and isinstance(augments[0], (list, tuple)) else augments
    for step in augments:
        steps.setdefault(step['type'].replace('Batch', '', 1), dict(step))
    if 'RandomResizedCrop' not in steps:
        raise ValueError('the training pipeline needs a MultiView with a RandomResizedCrop')
    return steps


class PILGaussianBlur:
    """PIL Gaussian blur with a radius drawn uniformly from ``sigma`` (MoCo v2 reference).

    Args:
        sigma: (low, high) of the radius.
    """

    def __init__(self, sigma) -> None:
        self.sigma = sigma

    def __call__(self, img: Image.Image) -> Image.Image:
        """Blur ``img`` with a random radius."""
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))


def _crop_args(steps: Dict[str, dict]) -> dict:
    crop = steps['RandomResizedCrop']
    return dict(size=crop['size'], scale=tuple(crop.get('scale', (0.2, 1.0))),
                ratio=tuple(crop.get('ratio', (3 / 4, 4 / 3))))


def _photometric(steps: Dict[str, dict], transforms) -> list:
    """The recipe's photometric and flip steps, in the config's order, with ``transforms``
    (``torchvision.transforms`` or ``torchvision.transforms.v2``)."""
    out = []
    for name, step in steps.items():
        if name == 'ColorJitter':
            jitter = transforms.ColorJitter(step.get('brightness', 0), step.get('contrast', 0),
                                            step.get('saturation', 0), step.get('hue', 0))
            out.append(transforms.RandomApply([jitter], p=step.get('prob', 1.0)))
        elif name == 'RandomGrayscale':
            out.append(transforms.RandomGrayscale(p=step.get('prob', 0.2)))
        elif name == 'GaussianBlur':
            sigma = tuple(step.get('sigma', (0.1, 2.0)))
            blur = (PILGaussianBlur(sigma) if transforms.__name__ == 'torchvision.transforms'
                    else transforms.GaussianBlur(step.get('kernel_size')
                                                 or 2 * math.ceil(3 * sigma[1]) + 1, sigma))
            out.append(transforms.RandomApply([blur], p=step.get('prob', 0.5)))
        elif name == 'Solarize':
            out.append(transforms.RandomSolarize(step.get('threshold', 128),
                                                 p=step.get('prob', 0.2)))
        elif name == 'RandomFlip':
            out.append(transforms.RandomHorizontalFlip(p=step.get('prob', 0.5)))
    return out


def pil_decode(path: str) -> Image.Image:
    """The PIL recipe's decoding: ``Image.open(path).convert('RGB')``."""
    with Image.open(path) as img:
        return img.convert('RGB')


def torchvision_decode(path: str) -> torch.Tensor:
    """The v2 recipe's decoding: ``torchvision.io.decode_image`` to an RGB uint8 tensor."""
    from torchvision.io import ImageReadMode, decode_image, read_file
    return decode_image(read_file(path), mode=ImageReadMode.RGB)


def pil_reference(steps: Dict[str, dict]) -> Callable[[str], list]:
    """The recipe with torchvision's classic PIL transforms.

    Args:
        steps: The recipe from :func:`recipe`.

    Returns:
        A function from an image path to its two uint8 view tensors.
    """
    import torchvision.transforms as T
    view = T.Compose([T.RandomResizedCrop(**_crop_args(steps)), *_photometric(steps, T),
                      T.PILToTensor()])

    def two_views(path: str) -> list:
        img = pil_decode(path)
        return [view(img), view(img)]
    return two_views


def v2_reference(steps: Dict[str, dict]) -> Callable[[str], list]:
    """The recipe with ``torchvision.transforms.v2`` on uint8 tensors.

    Args:
        steps: The recipe from :func:`recipe`.

    Returns:
        A function from an image path to its two uint8 view tensors.
    """
    import torchvision.transforms.v2 as v2
    view = v2.Compose([v2.RandomResizedCrop(**_crop_args(steps), antialias=True),
                       *_photometric(steps, v2)])

    def two_views(path: str) -> list:
        img = torchvision_decode(path)
        return [view(img), view(img)]
    return two_views


def batch_augmenter(cfg: Config) -> Optional[torch.nn.Module]:
    """The config's data preprocessor if it has ``batch_augments``, else None."""
    preprocessor_cfg = cfg.model.get('data_preprocessor')
    return (MODELS.build(preprocessor_cfg) if preprocessor_cfg
            and preprocessor_cfg.get('batch_augments') else None)


Runner = Tuple[Callable[[str], None], Callable[[], None]]


def per_image(two_views: Callable[[str], object]) -> Runner:
    """A runner of a per-image function: nothing left to do at the end of a round."""
    return two_views, lambda: None


def ours(pipeline: list, batch_size: int,
         preprocessor: Optional[torch.nn.Module]) -> Runner:
    """mmmoco's pipeline, and the on-device batch augmentations run on this CPU if given.

    Args:
        pipeline: The built training pipeline.
        batch_size: Batch of the on-device augmentations.
        preprocessor: The data preprocessor with ``batch_augments``, or None.

    Returns:
        A function processing one image path (and the batch augmentations whenever a batch
        is full), and one augmenting the last, partial batch of a round.
    """
    views: List[list] = []

    def augment() -> None:
        if views:
            with torch.no_grad():
                preprocessor(dict(inputs=[torch.stack([v[i] for v in views])
                                          for i in range(len(views[0]))]), True)
            views.clear()

    def run(path: str) -> None:
        results = dict(img_path=path)
        for transform in pipeline:
            results = transform(results)
        if preprocessor is not None:
            views.append(results['inputs'])
            if len(views) == batch_size:
                augment()
    return run, augment


def benchmark(runners: Dict[str, Runner], paths: List[str], rounds: int,
              clock: Callable[[], float] = time.process_time) -> Dict[str, List[float]]:
    """Throughput of each runner, interleaved image by image.

    Args:
        runners: Name -> (a function processing one image, one finishing a round).
        paths: The images of a round.
        rounds: Number of rounds.
        clock: The clock (seconds).

    Returns:
        Name -> images per second, one value per round.
    """
    for run, finish in runners.values():  # warm-up (imports, caches)
        for path in paths:
            run(path)
        finish()
    names = list(runners)
    speeds: Dict[str, List[float]] = {name: [] for name in names}
    for _ in range(rounds):
        elapsed = dict.fromkeys(names, 0.)
        for index, path in enumerate(paths):
            for name in names[index % len(names):] + names[:index % len(names)]:
                start = clock()
                runners[name][0](path)
                elapsed[name] += clock() - start
        for name in names:
            start = clock()
            runners[name][1]()
            elapsed[name] += clock() - start
            speeds[name].append(len(paths) / elapsed[name])
    return speeds


class Timed:
    """A transform that adds its own time to ``totals[name]``.

    Args:
        transform: The transform.
        name: Its row in the profile.
        totals: Name -> seconds, shared by all the timed transforms.
        clock: The clock (seconds).
    """

    def __init__(self, transform: Callable[[dict], dict], name: str,
                 totals: Dict[str, float], clock: Callable[[], float]) -> None:
        self.transform, self.name, self.totals, self.clock = transform, name, totals, clock

    def __call__(self, results: dict) -> dict:
        """Run the transform, timing it."""
        start = self.clock()
        results = self.transform(results)
        self.totals[self.name] += self.clock() - start
        return results


def profile(pipeline: list, paths: List[str], rounds: int,
            clock: Callable[[], float] = time.process_time) -> Dict[str, float]:
    """The time of each transform of ``pipeline`` (and of those inside its ``MultiView``s,
    the MultiView row keeping only its own overhead), in ms per image.

    Args:
        pipeline: The built training pipeline (its transforms are wrapped in place).
        paths: The images.
        rounds: Passes over the images.
        clock: The clock (seconds).

    Returns:
        Stage name -> ms per image, in pipeline order, and ``total``.
    """
    totals: Dict[str, float] = defaultdict(float)
    for index, transform in enumerate(pipeline):
        for group, steps in enumerate(getattr(transform, 'pipelines', [])):
            prefix = f'  view group {group + 1}: ' if len(transform.pipelines) > 1 else '  '
            steps[:] = [Timed(step, prefix + type(step).__name__, totals, clock)
                         for step in steps]
        pipeline[index] = Timed(transform, type(transform).__name__, totals, clock)
    for _ in range(rounds):
        for path in paths:
            results = dict(img_path=path)
            for transform in pipeline:
                results = transform(results)
    for transform in pipeline:
        inner = {step.name for steps in getattr(transform.transform, 'pipelines', [])
                 for step in steps}
        totals[transform.name] -= sum(totals[name] for name in inner)
    scale = 1000 / (rounds * len(paths))
    stages = {name: seconds * scale for name, seconds in totals.items()}
    stages['total'] = sum(stages.values())
    return stages


def print_table(args: argparse.Namespace, steps: Dict[str, dict],
                speeds: Dict[str, List[float]], images: int) -> None:
    """Print the throughput table: each row's median and rounds, and the median over the rounds
    of the ratio of each of our rows to it.

    Args:
        args: The parsed command line.
        steps: The recipe from :func:`recipe`.
        speeds: Name -> images per second per round, from :func:`benchmark`.
        images: The number of distinct images.
    """
    print(f'{args.config} on {images} images of {args.image_dir} (x{args.repeat}), 1 thread, '
          f'{args.rounds} rounds interleaved image by image, {args.clock} time, seed {args.seed}')
    print('recipe: ' + ', '.join(steps))
    ours_names = [name for name in speeds if name.startswith('ours')]
    print('| pipeline | images/s per core (median) | per round | '
          + ' | '.join(f'{name} / this (median of rounds)' for name in ours_names) + ' |')
    print('|---' * (3 + len(ours_names)) + '|')
    for name, values in speeds.items():
        ratios = [statistics.median(o / v for o, v in zip(speeds[mine], values))
                  for mine in ours_names]
        print(f'| {name} | {statistics.median(values):.1f} | '
              f'{" ".join(f"{v:.0f}" for v in values)} | '
              + ' | '.join(f'{ratio:.2f}' for ratio in ratios) + ' |')


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    paths = list_images(args.image_dir) * args.repeat
    steps = recipe(cfg)
    preprocessor = batch_augmenter(cfg)

    def pipeline() -> list:
        return build_transforms(cfg.train_dataloader.dataset.pipeline, 'benchmark_pipeline')
    runners = {'ours': ours(pipeline(), args.batch_size, preprocessor)}
    if preprocessor is not None:
        runners['ours, loader only'] = ours(pipeline(), args.batch_size, None)
    load = pipeline()[0]  # the pipeline's first transform: its loader
    runners.update({'pil': per_image(pil_reference(steps)), 'v2': per_image(v2_reference(steps)),
                    'decode only': per_image(lambda path: load(dict(img_path=path))),
                    'decode only, PIL': per_image(pil_decode),
                    'decode only, torchvision': per_image(torchvision_decode)})
    clock = CLOCKS[args.clock]
    print_table(args, steps, benchmark(runners, paths, args.rounds, clock),
                len(paths) // args.repeat)
    if args.profile:
        stages = profile(pipeline(), paths, args.rounds, clock)
        print('| our stage | ms per image | share |')
        print('|---|---|---|')
        for name, ms in stages.items():
            print(f'| {name} | {ms:.2f} | {100 * ms / stages["total"]:.0f}% |')


if __name__ == '__main__':
    main()
