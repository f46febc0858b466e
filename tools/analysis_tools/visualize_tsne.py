#!/usr/bin/env python
"""2-D t-SNE scatter plot of saved features, coloured by class.

Takes the ``.npy`` files written by ``tools/analysis_tools/extract_features.py``. With
``--config`` (the config the features were extracted with) the legend names the classes of
that split's dataset; otherwise it shows the label numbers. A progress bar on stderr follows
the t-SNE iterations.
"""
import argparse
import contextlib
import os
import os.path as osp
import re
import sys
from typing import Dict, Mapping, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mmengine.config import Config  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from tqdm import tqdm  # noqa: E402

from mmmoco.apis import register_all_modules  # noqa: E402
from mmmoco.apis.cli import add_cfg_options_argument  # noqa: E402
from mmmoco.registry import DATASETS  # noqa: E402


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
    parser.add_argument('--title', default=None,
                        help='plot title (default: what was embedded, points and perplexity)')
    parser.add_argument('--config', help='the config the features were extracted with: the '
                        'legend names the classes of its dataset')
    parser.add_argument('--split', choices=['train', 'val'], default=None,
                        help="the split of --config (default: the features file's prefix, "
                        'e.g. val_features.npy -> val)')
    add_cfg_options_argument(parser)
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


def class_names(config: str, split: str,
                cfg_options: Optional[Mapping[str, object]] = None) -> Dict[int, str]:
    """The class names of a config's split, by label.

    The dataset's ``metainfo['classes']`` (class folders, or classes the config gives); for a
    file list without them, the folder name of each label's images when every label has its
    own folder (``train/Ankle_boot/00000.png 9`` -> ``Ankle_boot``).

    Args:
        config: The config the features were extracted with.
        split: ``'train'`` or ``'val'``: which ``{split}_dataloader``'s dataset.
        cfg_options: Overrides, e.g. ``{'val_dataloader.dataset.data_root': ...}``.

    Returns:
        ``{label: name}``; empty when the dataset names no classes.

    Raises:
        KeyError: If the config has no ``{split}_dataloader`` (names the config).
    """
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if f'{split}_dataloader' not in cfg:
        raise KeyError(f'{config} has no {split}_dataloader to take the class names from')
    dataset = DATASETS.build(cfg[f'{split}_dataloader']['dataset'])
    classes = dataset.metainfo.get('classes')
    if classes:
        return dict(enumerate(classes))
    folders: Dict[int, set] = {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if info.get('gt_label', -1) >= 0:
            folders.setdefault(int(info['gt_label']), set()).add(
                osp.basename(osp.dirname(info['img_path'])))
    names = {label: next(iter(found)) for label, found in folders.items() if len(found) == 1}
    if len(names) < len(folders) or len(set(names.values())) < len(names):
        return {}
    return names


class IterationProgress:
    """A file that turns scikit-learn's verbose t-SNE lines (``[t-SNE] Iteration 50: ...``)
    into a tqdm progress bar on stderr; the other lines are dropped.

    Args:
        total: The maximum number of iterations.
    """

    def __init__(self, total: int) -> None:
        self.bar = tqdm(total=total, desc='t-SNE', unit='it', file=sys.stderr,
                        dynamic_ncols=True)

    def write(self, text: str) -> int:
        """Advance the bar to the iteration a line reports.

        Args:
            text: Text scikit-learn prints.

        Returns:
            The number of characters taken.
        """
        for match in re.finditer(r'Iteration (\d+):', text):
            self.advance_to(int(match.group(1)))
        return len(text)

    def advance_to(self, iteration: int) -> None:
        """Move the bar forward to an iteration (never back, never past the total).

        Args:
            iteration: Iterations done.
        """
        self.bar.update(max(0, min(iteration, self.bar.total) - self.bar.n))

    def flush(self) -> None:
        """Nothing is buffered."""


def embed_tsne(feats: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """Embed features in 2-D with t-SNE (PCA initialisation), with a progress bar on stderr.

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
    tsne = TSNE(n_components=2, perplexity=perplexity, init='pca', random_state=seed, verbose=2)
    # the iteration limit: max_iter (scikit-learn >= 1.5; None means 1000) or n_iter (older)
    limits = (getattr(tsne, name, None) for name in ('max_iter', 'n_iter'))
    progress = IterationProgress(next((n for n in limits if isinstance(n, int)), 1000))
    with contextlib.redirect_stdout(progress):
        embedding = tsne.fit_transform(feats)
    progress.advance_to(tsne.n_iter_ + 1)  # the iterations after the last report
    if progress.bar.n < progress.bar.total:  # scikit-learn stops once the error settles
        progress.bar.set_postfix_str('finished early: converged')
    progress.bar.close()
    return embedding


def tsne_figure(embedding: np.ndarray, labels: np.ndarray, title: str,
                names: Optional[Mapping[int, str]] = None) -> Figure:
    """Scatter-plot a 2-D embedding, one colour and legend entry per class.

    Args:
        embedding: Points (N, 2).
        labels: Labels (N,).
        title: Plot title.
        names: Class name by label for the legend; a label without one shows its number.

    Returns:
        The figure (close it with ``plt.close``).
    """
    names = names or {}
    classes = np.unique(labels)
    cmap = plt.get_cmap('tab10' if len(classes) <= 10 else 'tab20', max(len(classes), 1))
    fig, ax = plt.subplots(figsize=(8, 8))
    for i, label in enumerate(classes):
        points = embedding[labels == label]
        ax.scatter(points[:, 0], points[:, 1], s=6, color=cmap(i % cmap.N),
                   label=names.get(int(label), str(label)))
    ax.legend(title='class' if names else 'label', markerscale=3, loc='best',
              fontsize='small')
    ax.set_title(title)
    ax.set_xlabel('t-SNE dimension 1')
    ax.set_ylabel('t-SNE dimension 2')
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def save_figure(fig: Figure, out: str) -> None:
    """Save a figure as an image (its folder is created) and close it.

    Args:
        fig: The figure.
        out: Output image path.
    """
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=150, bbox_inches='tight')
    plt.close(fig)


def default_title(features_path: str, count: int, perplexity: float,
                  config: Optional[str] = None, split: Optional[str] = None) -> str:
    """What a t-SNE plot shows: the features (config and split when known), points, perplexity.

    Args:
        features_path: The features file.
        count: Points plotted.
        perplexity: t-SNE perplexity.
        config: The config the features come from, if known.
        split: Its split.

    Returns:
        The title.
    """
    what = (f'{osp.splitext(osp.basename(config))[0]} ({split} split)' if config
            else osp.basename(features_path))
    return f't-SNE of {what}: {count} points, perplexity {perplexity:g}'


def split_of(features_path: str) -> str:
    """The split a features file belongs to, from its name (``val_features.npy`` -> ``val``).

    Args:
        features_path: The features file.

    Returns:
        ``'train'`` or ``'val'``.

    Raises:
        ValueError: If the name does not tell; asks for ``--split``.
    """
    prefix = osp.basename(features_path).split('_', 1)[0]
    if prefix not in ('train', 'val'):
        raise ValueError(f'cannot tell the split of {features_path} from its name; pass --split')
    return prefix


def visualize_tsne(features_path: str, labels_path: str, out: str, max_samples: int = 2000,
                   perplexity: float = 30.0, seed: int = 0, title: Optional[str] = None,
                   config: Optional[str] = None, split: Optional[str] = None,
                   cfg_options: Optional[Mapping[str, object]] = None) -> int:
    """Load features, subsample, embed with t-SNE and save the scatter plot.

    Args:
        features_path: ``.npy`` features (N, C).
        labels_path: ``.npy`` labels (N,).
        out: Output image path.
        max_samples: Subset size.
        perplexity: t-SNE perplexity.
        seed: Seed of the subset and of t-SNE.
        title: Plot title; defaults to :func:`default_title`.
        config: The config the features were extracted with, for the class names.
        split: Its split (default: from the features file name).
        cfg_options: Overrides of ``config``.

    Returns:
        The number of points plotted.
    """
    feats, labels = load_features(features_path, labels_path)
    names = {}
    if config is not None:
        split = split or split_of(features_path)
        names = class_names(config, split, cfg_options)
    keep = subsample_indices(len(labels), max_samples, seed)
    embedding = embed_tsne(feats[keep], perplexity, seed)
    title = title or default_title(features_path, len(keep), perplexity, config, split)
    save_figure(tsne_figure(embedding, labels[keep], title, names), out)
    return len(keep)


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    count = visualize_tsne(args.features, args.labels, args.out, args.max_samples,
                           args.perplexity, args.seed, args.title, args.config, args.split,
                           args.cfg_options)
    print(f't-SNE of {count} points saved to {args.out}')


if __name__ == '__main__':
    main()
