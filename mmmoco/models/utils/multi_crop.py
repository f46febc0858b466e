"""Which query view is scored against which key view, and batching views by resolution.

MoCo's views are ordered global views first (the two crops that also feed the key encoder),
then any small views (multi-crop, Caron et al. 2020). Every view is a query; keys come only
from the global views; a query is never scored against the key of its own view.
"""
from typing import Callable, List, Sequence, Tuple

import torch

NUM_GLOBAL_VIEWS = 2


def check_views(views: Sequence[torch.Tensor], owner: str, multi_crop: bool = True) -> None:
    """Refuse a batch whose views do not fit the global-then-small layout.

    Args:
        views: The preprocessed views, each (N, 3, H, W).
        owner: The model's name, for the message.
        multi_crop: Whether views beyond the two global ones are allowed.

    Raises:
        ValueError: For fewer than 2 views, small views where they are not allowed, or views
            with different batch sizes.
    """
    if len(views) < NUM_GLOBAL_VIEWS or (not multi_crop and len(views) != NUM_GLOBAL_VIEWS):
        wanted = 'at least 2' if multi_crop else 'exactly 2'
        raise ValueError(f'{owner} needs {wanted} views per image, got {len(views)}')
    sizes = {view.shape[0] for view in views}
    if len(sizes) != 1:
        raise ValueError(f'{owner}: every view must hold the same images, got batch sizes '
                         f'{[view.shape[0] for view in views]}')
    if views[0].shape[-2:] != views[1].shape[-2:]:
        raise ValueError(f'{owner}: the two global views (views 0 and 1) must have one size, got '
                         f'{tuple(views[0].shape[-2:])} and {tuple(views[1].shape[-2:])}')


def view_pairs(num_views: int, symmetric: bool) -> List[Tuple[int, int]]:
    """The (query view, key view) pairs of the loss.

    Args:
        num_views: Number of views (2 global, then small ones).
        symmetric: Score view 1's query against view 0's key as well.

    Returns:
        ``[(0, 1)]`` (asymmetric MoCo v1/v2), ``[(0, 1), (1, 0)]`` (symmetric), then
        ``(j, 0), (j, 1)`` for every small view j.
    """
    pairs = [(0, 1), (1, 0)] if symmetric else [(0, 1)]
    pairs += [(small, key) for small in range(NUM_GLOBAL_VIEWS, num_views)
              for key in range(NUM_GLOBAL_VIEWS)]
    return pairs


def embed_by_resolution(embed: Callable[[torch.Tensor], torch.Tensor],
                        views: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Embed views, those of one resolution in one batch, and split the result per view.

    Args:
        embed: Maps a batch of images (M, 3, H, W) to embeddings (M, D).
        views: Views of the same N images, each (N, 3, H_i, W_i).

    Returns:
        One (N, D) embedding per view, in the order of ``views``.
    """
    groups: dict = {}
    for index, view in enumerate(views):
        groups.setdefault(tuple(view.shape[-2:]), []).append(index)
    embeddings: List[torch.Tensor] = [torch.empty(0)] * len(views)
    for indices in groups.values():
        batch = torch.cat([views[i] for i in indices]) if len(indices) > 1 else views[indices[0]]
        for index, part in zip(indices, embed(batch).split(views[indices[0]].shape[0])):
            embeddings[index] = part
    return embeddings
