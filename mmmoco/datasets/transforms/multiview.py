"""Make several independently augmented views of one image."""
from typing import Callable, List, Sequence, Tuple, Union

from mmmoco.registry import TRANSFORMS
from .base import BaseTransform
from .builder import build_transforms

TransformCfgs = Sequence[Union[dict, Callable]]


def _check_count(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f'MultiView: each number of views must be a positive int, got {count!r}')
    return count


def _view_groups(num_views: Union[int, Sequence[int]],
                 transforms: Union[TransformCfgs, Sequence[TransformCfgs]]
                 ) -> Tuple[List[int], List[TransformCfgs]]:
    if isinstance(num_views, int):
        if any(isinstance(cfg, (list, tuple)) for cfg in transforms):
            raise ValueError('MultiView: num_views is an int, so transforms must be one list of '
                             'transform configs, not a list of lists')
        return [_check_count(num_views)], [transforms]
    if len(num_views) != len(transforms):
        raise ValueError(f'MultiView: num_views {list(num_views)} has {len(num_views)} groups '
                         f'but transforms has {len(transforms)} pipelines')
    return [_check_count(count) for count in num_views], list(transforms)


@TRANSFORMS.register_module()
class MultiView(BaseTransform):
    """Replace ``results['img']`` by a list of views, each augmented from the decoded image.

    Each view's pipeline gets a shallow copy of the sample; the decoded image itself is shared,
    not copied, and made read-only so that a transform writing into it in place fails loudly
    instead of leaking into the other views (mmmoco's transforms all return new arrays).

    Either one pipeline for all views (``num_views=2, transforms=[...]``) or one pipeline per
    group of views (``num_views=[1, 1], transforms=[[...], [...]]``) for asymmetric recipes.
    Views are ordered group by group.

    Args:
        num_views: The number of views, or the number of views of each group.
        transforms: One list of transform configs, or one list per group.
    """

    def __init__(self, num_views: Union[int, Sequence[int]],
                 transforms: Union[TransformCfgs, Sequence[TransformCfgs]]) -> None:
        counts, pipelines = _view_groups(num_views, transforms)
        self.num_views = counts
        self.pipelines = [build_transforms(pipeline, 'MultiView') for pipeline in pipelines]

    def transform(self, results: dict) -> dict:
        """Make the views.

        Args:
            results: A sample with ``img``.

        Returns:
            The sample with ``img`` a list of views and ``img_shape`` a list of their shapes.
        """
        views = []
        results['img'].flags.writeable = False
        for count, pipeline in zip(self.num_views, self.pipelines):
            for _ in range(count):
                view = dict(results)
                for transform in pipeline:
                    view = transform(view)
                views.append(view['img'])
        results['img'] = views
        results['img_shape'] = [view.shape[:2] for view in views]
        return results
