"""Weighted kNN against a direct loop over the neighbours."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmmoco.evaluation import knn_class_scores, topk_accuracy


def test_weighted_knn_matches_direct_computation():
    gen = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(12, 5, generator=gen), dim=1)
    labels = torch.randint(0, 3, (12, ), generator=gen)
    query = F.normalize(torch.randn(4, 5, generator=gen), dim=1)
    scores = knn_class_scores(query, bank, labels, num_classes=3, k=4, temperature=0.1,
                              chunk_size=3)
    for i in range(4):
        sims = [(float(query[i] @ bank[j]), int(labels[j])) for j in range(12)]
        expected = [0.0, 0.0, 0.0]
        for sim, label in sorted(sims, reverse=True)[:4]:
            expected[label] += math.exp(sim / 0.1)
        assert scores[i].tolist() == pytest.approx(expected, rel=1e-5)


def test_features_are_normalised_and_k_is_capped():
    bank = torch.tensor([[10.0, 0.0], [0.0, 0.1]])
    scores = knn_class_scores(torch.tensor([[1.0, 0.0]]), bank, torch.tensor([0, 1]), 2, k=200,
                              temperature=1.0)
    assert scores[0].tolist() == pytest.approx([math.e, 1.0])


def test_topk_accuracy():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.05, 0.15], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    acc = topk_accuracy(scores, labels, topk=(1, 2, 5))
    assert acc['top1'] == pytest.approx(100 / 3)
    assert acc['top2'] == pytest.approx(200 / 3) and acc['top5'] == pytest.approx(100.0)
