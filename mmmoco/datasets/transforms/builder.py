"""Build a list of transforms from config dicts or callables."""
from typing import Callable, List, Sequence, Union

from mmmoco.registry import TRANSFORMS


def build_transforms(cfgs: Sequence[Union[dict, Callable]], owner: str) -> List[Callable]:
    """Build each transform config with mmmoco's ``TRANSFORMS`` registry.

    Args:
        cfgs: Config dicts (``dict(type='RandomFlip', ...)``) or ready callables.
        owner: Who asks for the transforms, used in error messages.

    Returns:
        The callable transforms, in order.
    """
    if isinstance(cfgs, (dict, str)) or not isinstance(cfgs, Sequence):
        raise TypeError(f'{owner}: a pipeline must be a list of transform configs, got {cfgs!r}')
    transforms = []
    for cfg in cfgs:
        transform = TRANSFORMS.build(cfg) if isinstance(cfg, dict) else cfg
        if not callable(transform):
            raise TypeError(f'{owner}: transform {cfg!r} is neither a config dict nor callable')
        transforms.append(transform)
    return transforms
