"""RankMe, the effective rank of a feature matrix (Garrido et al. 2023)."""
import math

import pytest
import torch

from mmmoco.evaluation.rankme import EPSILON, effective_rank


def test_equal_singular_values_give_the_full_rank_and_a_line_gives_one():
    generator = torch.Generator().manual_seed(0)
    orthonormal, _ = torch.linalg.qr(torch.randn(64, 16, generator=generator))
    assert effective_rank(orthonormal * 3.0) == pytest.approx(16, rel=1e-4)
    line = torch.randn(64, 1) @ torch.randn(1, 16)
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-3)
    assert effective_rank(torch.zeros(8, 4)) == 1.0


def test_matches_the_formula_and_is_bounded_by_the_smaller_side():
    features = torch.randn(10, 32, generator=torch.Generator().manual_seed(1)).double()
    s = torch.linalg.svdvals(features)
    p = s / s.sum() + EPSILON
    assert effective_rank(features) == pytest.approx(math.exp(-(p * p.log()).sum().item()),
                                                     rel=1e-5)
    assert 1.0 <= effective_rank(features) <= 10 + 1e-3
    # two equal directions and one at half the strength: between 2 and 3
    three = torch.diag(torch.tensor([1.0, 1.0, 0.5]))
    assert 2.0 < effective_rank(three) < 3.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r'\(N, D\) matrix'):
        effective_rank(torch.randn(5))
    with pytest.raises(ValueError, match='NaN'):
        effective_rank(torch.tensor([[1.0, float('nan')]]))
