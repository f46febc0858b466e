"""RankMe: the effective rank of a batch of representations, a label-free quality signal.

Garrido et al. 2023 ("RankMe: Assessing the downstream performance of pretrained
self-supervised representations by their rank"): with the singular values s_1..s_r of an
(N, D) feature matrix, p_k = s_k / sum(s) + eps and RankMe = exp(-sum_k p_k log p_k), a number
between 1 (every feature on one line: collapse) and min(N, D) (the singular values all equal).
Higher tends to go with better linear and kNN accuracy for one method and architecture; it
needs no labels, so it also monitors pretraining on unlabeled data.
"""
import torch

#: The paper's epsilon, added to every normalised singular value.
EPSILON = 1e-7


def effective_rank(features: torch.Tensor, eps: float = EPSILON) -> float:
    """RankMe of a feature matrix.

    Args:
        features: Representations (N, D), one row per image; computed in float32.
        eps: Added to the normalised singular values (keeps the logarithm finite).

    Returns:
        The effective rank, in [1, min(N, D)] up to ``eps``.

    Raises:
        ValueError: If ``features`` is not a non-empty 2-d matrix or holds non-finite values.
    """
    if features.dim() != 2 or features.numel() == 0:
        raise ValueError(f'effective_rank needs an (N, D) matrix, got shape '
                         f'{tuple(features.shape)}')
    features = features.detach().float()
    if not torch.isfinite(features).all():
        raise ValueError('effective_rank: the features hold NaN or infinite values')
    singular = torch.linalg.svdvals(features)
    total = singular.sum()
    if total <= 0:
        return 1.0  # all-zero features: fully collapsed
    p = singular / total + eps
    return float(torch.exp(-(p * p.log()).sum()))
