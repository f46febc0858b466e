"""The linear probe on frozen features and the raw-pixel baseline backbone."""
import pytest
import torch

from mmmoco.evaluation.linear_probe import (fit_logistic_regression, linear_probe,
                                            standardise)
from mmmoco.models.backbones.raw_pixels import RawPixels


def gaussian_classes(n_per_class: int, dims: int, separation: float, seed: int):
    """Three Gaussian classes whose means differ only in the first two dimensions."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.zeros(3, dims)
    means[1, 0], means[2, 1] = separation, separation
    labels = torch.arange(3).repeat_interleave(n_per_class)
    feats = means[labels] + torch.randn(len(labels), dims, generator=generator)
    return feats, labels


def test_standardise_uses_the_training_statistics_only():
    train = torch.tensor([[0., 10.], [2., 30.]])
    test = torch.tensor([[1., 20.]])
    train_z, test_z = standardise(train, test)
    assert torch.allclose(train_z.mean(0), torch.zeros(2))
    assert torch.allclose(test_z, torch.zeros(1, 2))


def test_fit_separates_separable_classes_and_the_penalty_shrinks_weights():
    feats, labels = gaussian_classes(60, 5, separation=8.0, seed=0)
    weak_w, weak_b = fit_logistic_regression(feats, labels, 3, weight_decay=1e-4)
    strong_w, _ = fit_logistic_regression(feats, labels, 3, weight_decay=1.0)
    predictions = (feats @ weak_w.t() + weak_b).argmax(1)
    assert (predictions == labels).float().mean() > 0.97
    assert strong_w.norm() < 0.5 * weak_w.norm()


def test_probe_beats_chance_on_signal_and_not_on_noise():
    train, train_labels = gaussian_classes(80, 10, separation=3.0, seed=1)
    test, test_labels = gaussian_classes(80, 10, separation=3.0, seed=2)
    result = linear_probe(train, train_labels, test, test_labels, weight_decays=(1e-3, 1e-1),
                          folds=3)
    assert result['top1'] > 80
    assert result['weight_decay'] in (1e-3, 1e-1)
    assert 0 <= result['cv_top1'] <= 100
    generator = torch.Generator().manual_seed(5)
    noise = torch.randn(test.shape, generator=generator)
    permutation = torch.randperm(len(train_labels), generator=generator)
    shuffled = linear_probe(train, train_labels[permutation], noise,
                            test_labels, weight_decays=(1e-3, ), folds=3)
    assert shuffled['top1'] < 50


def test_probe_is_deterministic_for_a_seed():
    train, train_labels = gaussian_classes(40, 6, separation=2.0, seed=3)
    test, test_labels = gaussian_classes(40, 6, separation=2.0, seed=4)
    runs = [linear_probe(train, train_labels, test, test_labels, weight_decays=(1e-4, 1e-2),
                         folds=3, seed=7) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize('kwargs, match', [
    (dict(weight_decays=()), 'weight_decays is empty'),
    (dict(folds=1), 'folds must be >= 2'),
])
def test_probe_refuses_bad_settings(kwargs, match):
    feats, labels = gaussian_classes(10, 4, separation=1.0, seed=0)
    with pytest.raises(ValueError, match=match):
        linear_probe(feats, labels, feats, labels, **kwargs)


def test_probe_refuses_different_widths():
    feats, labels = gaussian_classes(10, 4, separation=1.0, seed=0)
    with pytest.raises(ValueError, match='4 dims, test features 3'):
        linear_probe(feats, labels, feats[:, :3], labels)


def test_raw_pixels_flattens_as_a_pooled_map():
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    out, = RawPixels()(images)
    assert out.shape == (2, 12, 1, 1)
    assert torch.equal(out.mean(dim=(2, 3)), images.flatten(1))
    first, = RawPixels(channels=1)(images)
    assert torch.equal(first.flatten(1), images[:, 0].flatten(1))


@pytest.mark.parametrize('channels', [0, -1, 1.5, True, 'gray'])
def test_raw_pixels_refuses_bad_channels(channels):
    with pytest.raises(ValueError, match='channels'):
        RawPixels(channels=channels)


def test_cross_validation_shows_a_progress_bar(capsys):
    """Issue 20, item 5: a bar over the penalties on stderr (never in a log file)."""
    feats, labels = gaussian_classes(12, 4, separation=3.0, seed=0)
    linear_probe(feats, labels, feats, labels, weight_decays=(1e-3, 1e-1), folds=2)
    captured = capsys.readouterr()
    assert 'linear probe: cross-validating the L2 penalty' in captured.err
    assert '2/2' in captured.err and captured.out == ''
    linear_probe(feats, labels, feats, labels, weight_decays=(1e-3, ), folds=2, progress=None)
    assert capsys.readouterr().err == ''
