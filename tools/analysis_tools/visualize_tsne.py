#!/usr/bin/env python
"""2-D t-SNE scatter plot of saved features, coloured by label.

Takes the ``.npy`` files written by ``tools/analysis_tools/extract_features.py``.
"""
import argparse
import os
import os.path as osp
from typing import Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--features', required=True, help='(N, C) features .npy')
    parser.add_argument('--labels', required=True, help='(N,) integer labels .npy')
    parser.add_argument('--out', required=True, help='output image (e.g. tsne.png)')
    parser.add_argument('--max-samples', type=int, default=2000,
                        help='random subset size embedded (all when N is smaller)')
    parser.add_argument('--perplexity', type=float, default=30.0)
    parser.add_argument('--seed', type=int, default=0, help='seed of the subset and of t-SNE')
    parser.add_argument('--title', default=None, help='plot title (default: the features file)')
    return parser.parse_args()


def load_features(features_path: str, labels_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Load and check a features file and its labels file.

    Args:
        features_path: ``.npy`` of shape (N, C).
        labels_path: ``.npy`` of shape (N,).

    Returns:
        Features (N, C) float32 and labels (N,) int64.

    Raises:
        FileNotFoundError: If a file is missing (names it).
        ValueError: If the shapes are wrong or disagree (names the files).
    """
    for path in (features_path, labels_path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    feats, labels = np.load(features_path), np.load(labels_path)
    if feats.ndim != 2:
        raise ValueError(f'{features_path}: expected (N, C) features, got shape {feats.shape}')
    if labels.ndim != 1 or labels.shape[0] != feats.shape[0]:
        raise ValueError(f'{labels_path}: expected ({feats.shape[0]},) labels to match '
                         f'{features_path}, got shape {labels.shape}')
    return feats.astype(np.float32), labels.astype(np.int64)


def subsample_indices(num: int, max_samples: int, seed: int) -> np.ndarray:
    """A reproducible random subset of ``range(num)``, in increasing order.

    Args:
        num: Number of samples.
        max_samples: Subset size; every index is kept when ``num <= max_samples``.
        seed: Seed of the draw.

    Returns:
        The kept indices.
    """
    if num <= max_samples:
        return np.arange(num)
    return np.sort(np.random.default_rng(seed).choice(num, max_samples, replace=False))


def embed_tsne(feats: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """Embed features in 2-D with t-SNE (PCA initialisation).

    Args:
        feats: Features (N, C).
        perplexity: t-SNE perplexity; must be smaller than N.
        seed: t-SNE random state.

    Returns:
        The embedding (N, 2).

    Raises:
        ValueError: If the perplexity is not smaller than the number of samples.
    """
    if perplexity >= feats.shape[0]:
        raise ValueError(f'perplexity {perplexity} must be smaller than the number of samples '
                         f'({feats.shape[0]}); lower --perplexity')
    tsne = TSNE(n_components=2, perplexity=perplexity, init='pca', random_state=seed)
    return tsne.fit_transform(feats)


def plot_embedding(embedding: np.ndarray, labels: np.ndarray, out: str, title: str) -> None:
    """Scatter-plot a 2-D embedding, one colour and legend entry per label.

    Args:
        embedding: Points (N, 2).
        labels: Labels (N,).
        out: Output image path (its folder is created).
        title: Plot title.
    """
    classes = np.unique(labels)
    cmap = plt.get_cmap('tab10' if len(classes) <= 10 else 'tab20', max(len(classes), 1))
    fig, ax = plt.subplots(figsize=(8, 8))
    for i, label in enumerate(classes):
        points = embedding[labels == label]
        ax.scatter(points[:, 0], points[:, 1], s=6, color=cmap(i % cmap.N), label=str(label))
    ax.legend(title='label', markerscale=3, loc='best', fontsize='small')
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=150, bbox_inches='tight')
    plt.close(fig)


def visualize_tsne(features_path: str, labels_path: str, out: str, max_samples: int = 2000,
                   perplexity: float = 30.0, seed: int = 0, title: Optional[str] = None) -> int:
    """Load features, subsample, embed with t-SNE and save the scatter plot.

    Args:
        features_path: ``.npy`` features (N, C).
        labels_path: ``.npy`` labels (N,).
        out: Output image path.
        max_samples: Subset size.
        perplexity: t-SNE perplexity.
        seed: Seed of the subset and of t-SNE.
        title: Plot title; defaults to the features file name and the subset size.

    Returns:
        The number of points plotted.
    """
    feats, labels = load_features(features_path, labels_path)
    keep = subsample_indices(len(labels), max_samples, seed)
    embedding = embed_tsne(feats[keep], perplexity, seed)
    plot_embedding(embedding, labels[keep], out,
                   title or f't-SNE of {osp.basename(features_path)} ({len(keep)} points)')
    return len(keep)


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    count = visualize_tsne(args.features, args.labels, args.out, args.max_samples,
                           args.perplexity, args.seed, args.title)
    print(f't-SNE of {count} points saved to {args.out}')


if __name__ == '__main__':
    main()
