"""Linear probe on frozen features: multinomial logistic regression, weight decay picked by CV.

The protocol (one for every feature extractor, raw pixels included, so their numbers compare):
features are standardised with the training set's mean and standard deviation, a linear
softmax classifier is fitted on the whole training set with L-BFGS (a convex problem: the
result does not depend on a learning rate or a schedule), and its L2 penalty is the one of
``weight_decays`` with the best k-fold cross-validated accuracy on the training set. The test
split is used once, for the reported accuracy.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .features import with_progress

#: The L2 penalties tried by cross-validation (per-sample loss + wd * ||W||^2).
DEFAULT_WEIGHT_DECAYS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def standardise(train: torch.Tensor, *others: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Centre and scale every feature by the training set's mean and standard deviation.

    Args:
        train: Training features (N, D).
        *others: Further feature sets (M, D) scaled with the training statistics.

    Returns:
        The standardised ``train`` followed by the standardised ``others``.
    """
    mean = train.mean(dim=0)
    std = train.std(dim=0).clamp_min(1e-6)
    return tuple((x - mean) / std for x in (train, *others))


def fit_logistic_regression(feats: torch.Tensor, labels: torch.Tensor, num_classes: int,
                            weight_decay: float, max_iter: int = 100) -> Tuple[torch.Tensor,
                                                                               torch.Tensor]:
    """Fit a multinomial logistic regression (weights and bias) with full-batch L-BFGS.

    Args:
        feats: Standardised features (N, D), float.
        labels: Class indices (N,), long.
        num_classes: Number of classes.
        weight_decay: L2 penalty on the weights (not on the bias).
        max_iter: L-BFGS iterations.

    Returns:
        The weights (num_classes, D) and the bias (num_classes,).
    """
    feats = feats.float()
    weight = torch.zeros(num_classes, feats.shape[1], requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter,
                                  history_size=20, line_search_fn='strong_wolfe')

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(feats @ weight.t() + bias, labels)
        loss = loss + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def accuracy(feats: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor,
             bias: torch.Tensor) -> float:
    """Top-1 accuracy (percent) of a linear classifier.

    Args:
        feats: Standardised features (N, D).
        labels: Class indices (N,).
        weight: Weights (C, D).
        bias: Bias (C,).

    Returns:
        The percentage of correctly classified samples.
    """
    predictions = (feats.float() @ weight.t() + bias).argmax(dim=1)
    return float((predictions == labels).double().mean() * 100)


def cross_validated_accuracy(feats: torch.Tensor, labels: torch.Tensor, num_classes: int,
                             weight_decay: float, folds: int, seed: int) -> float:
    """Mean accuracy over ``folds`` folds of the training set (standardised per fold).

    Args:
        feats: Raw (not standardised) training features (N, D).
        labels: Class indices (N,).
        num_classes: Number of classes.
        weight_decay: L2 penalty.
        folds: Number of folds (>= 2).
        seed: Seed of the fold assignment.

    Returns:
        The mean held-out accuracy (percent).
    """
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    scores = []
    for held_out in order.chunk(folds):
        keep = torch.ones(len(labels), dtype=torch.bool)
        keep[held_out] = False
        train, val = standardise(feats[keep], feats[held_out])
        weight, bias = fit_logistic_regression(train, labels[keep], num_classes, weight_decay)
        scores.append(accuracy(val, labels[held_out], weight, bias))
    return sum(scores) / len(scores)


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, test_labels: torch.Tensor,
                 weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS, folds: int = 5,
                 seed: int = 0,
                 progress: Optional[str] = 'linear probe: cross-validating the L2 penalty'
                 ) -> Dict[str, float]:
    """Cross-validate the L2 penalty on the training set, refit, report test top-1.

    Args:
        train_feats: Training features (N, D).
        train_labels: Their class indices (N,).
        test_feats: Test features (M, D).
        test_labels: Their class indices (M,).
        weight_decays: Candidate L2 penalties.
        folds: Cross-validation folds.
        seed: Seed of the fold assignment.
        progress: Description of a progress bar over the penalties (stderr, rank 0, see
            :func:`~mmmoco.evaluation.features.with_progress`); None shows none.

    Returns:
        ``dict(top1=..., weight_decay=..., cv_top1=...)``: test accuracy of the refitted
        classifier, the chosen penalty and its cross-validated accuracy.

    Raises:
        ValueError: If ``weight_decays`` is empty, ``folds`` < 2, or the feature widths differ.
    """
    if not weight_decays:
        raise ValueError('linear_probe: weight_decays is empty')
    if folds < 2:
        raise ValueError(f'linear_probe: folds must be >= 2, got {folds}')
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f'linear_probe: train features have {train_feats.shape[1]} dims, '
                         f'test features {test_feats.shape[1]}')
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    cv = {wd: cross_validated_accuracy(train_feats, train_labels, num_classes, wd, folds, seed)
          for wd in with_progress(weight_decays, progress, unit='penalty')}
    best = max(cv, key=lambda wd: (cv[wd], wd))
    train, test = standardise(train_feats, test_feats)
    weight, bias = fit_logistic_regression(train, train_labels, num_classes, best)
    return dict(top1=accuracy(test, test_labels, weight, bias), weight_decay=best,
                cv_top1=cv[best])
