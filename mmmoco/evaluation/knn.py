"""Weighted k-nearest-neighbour classification of frozen features (Wu et al. 2018).

Each test feature votes with its k most cosine-similar training features; a neighbour of
similarity s adds ``exp(s / T)`` to its class (T = 0.07 by default). This is the protocol of
instance discrimination and of the kNN numbers reported for MoCo-style models.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_class_scores(query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor,
                     num_classes: int, k: int = 20, temperature: float = 0.07,
                     chunk_size: int = 1024) -> torch.Tensor:
    """Class scores of each query from its k nearest training features.

    Args:
        query: Query features (N, D); L2-normalised here.
        bank: Training features (M, D); L2-normalised here.
        bank_labels: Training labels (M,), ints in [0, num_classes).
        num_classes: Number of classes.
        k: Number of neighbours (capped at M).
        temperature: Temperature of the exponential weights.
        chunk_size: Queries processed at once (bounds the (chunk, M) similarity matrix).

    Returns:
        Scores (N, num_classes): the summed weights of the neighbours of each class.
    """
    if k < 1 or temperature <= 0:
        raise ValueError(f'kNN needs k >= 1 and temperature > 0, got k={k}, T={temperature}')
    if bank.shape[0] != bank_labels.shape[0]:
        raise ValueError(f'{bank.shape[0]} bank features but {bank_labels.shape[0]} labels')
    query, bank = F.normalize(query.float(), dim=1), F.normalize(bank.float(), dim=1)
    k = min(k, bank.shape[0])
    scores = []
    for start in range(0, query.shape[0], chunk_size):
        similarity = query[start:start + chunk_size] @ bank.t()
        top_sim, top_idx = similarity.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(similarity.shape[0], num_classes, device=query.device)
        votes.scatter_add_(1, bank_labels[top_idx].long(), weights)
        scores.append(votes)
    return torch.cat(scores, dim=0)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                  topk: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Top-k accuracy in percent.

    Args:
        scores: Class scores (N, C).
        labels: True labels (N,).
        topk: The k values (each capped at C).

    Returns:
        ``{'top1': ..., 'top5': ...}``.
    """
    ranked = scores.argsort(dim=1, descending=True)
    hits = ranked == labels.view(-1, 1)
    return {f'top{k}': 100.0 * hits[:, :min(k, scores.shape[1])].any(1).float().mean().item()
            for k in topk}
