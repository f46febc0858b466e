#!/usr/bin/env python
"""Save the frozen backbone's GAP features and labels of a kNN config's splits as .npy files.

Writes ``OUT_DIR/{split}_features.npy`` (float32, (N, C)) and, when the split has labels,
``OUT_DIR/{split}_labels.npy`` (int64, (N,); -1 for an unlabeled line of a file list) in
dataset order, for ``train``, ``val`` or both. An unlabeled folder works too, e.g.
``--split train --cfg-options train_dataloader.dataset.type=UnlabeledImageFolder
train_dataloader.dataset.data_root=/path/to/images``: it gets features only. The backbone
comes from :func:`mmmoco.apis.get_model`, as for :func:`mmmoco.apis.embed`.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmmoco.apis import get_model, register_all_modules
from mmmoco.evaluation import extract_features
from mmmoco.evaluation.frozen_backbone import config_seed

SPLITS = {'train': ('train',), 'val': ('val',), 'both': ('train', 'val')}


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='kNN config (configs/benchmarks/knn/...)')
    parser.add_argument('pretrain', nargs='?', default=None,
                        help='mmmoco checkpoint or extracted backbone; omit for random init')
    parser.add_argument('--out-dir', required=True, help='folder for the .npy files')
    parser.add_argument('--split', choices=sorted(SPLITS), default='both')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def load_config(path: str, options: Optional[dict]) -> Config:
    """Read a config and merge command-line overrides into it.

    Args:
        path: The config file.
        options: ``--cfg-options`` overrides, or ``None``.

    Returns:
        The merged config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def split_features(cfg: Config, backbone: torch.nn.Module, preprocessor: torch.nn.Module,
                   split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Features and labels of one split's loader (``cfg.{split}_dataloader``).

    Args:
        cfg: The kNN config.
        backbone: The frozen backbone.
        preprocessor: Its data preprocessor.
        split: ``'train'`` or ``'val'``.

    Returns:
        Features (N, C) float32 and labels (N,) int64 (-1: unlabeled), in dataset order.
    """
    loader = Runner.build_dataloader(cfg[f'{split}_dataloader'], seed=config_seed(cfg))
    feats, labels = extract_features(backbone, preprocessor, loader,
                                     progress=f'{split} features', require_labels=False)
    return feats.numpy().astype(np.float32), labels.numpy().astype(np.int64)


def save_split(out_dir: str, split: str, feats: np.ndarray, labels: np.ndarray) -> List[str]:
    """Write one split's features, and its labels when any sample has one.

    Without labels, a labels file of an earlier run in ``out_dir`` is removed: it belonged to
    the features just overwritten, and would pair with the new ones by name.

    Args:
        out_dir: Output folder (created if needed).
        split: Split name used as the file prefix.
        feats: Features (N, C).
        labels: Labels (N,), -1 for unlabeled samples.

    Returns:
        The paths written (features, then labels if written).
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'{split}_features.npy'), osp.join(out_dir, f'{split}_labels.npy')]
    np.save(paths[0], feats)
    if (labels >= 0).any():
        np.save(paths[1], labels)
        return paths
    if osp.exists(paths[1]):
        os.remove(paths[1])
        print(f'{split}: removed {paths[1]} of an earlier run (this split has no labels)')
    return paths[:1]


def extract_splits(cfg: Config, pretrain: Optional[str], splits: Tuple[str, ...],
                   out_dir: str) -> Dict[str, Tuple[int, ...]]:
    """Build the frozen backbone once, then extract and save every requested split.

    Args:
        cfg: The kNN config.
        pretrain: Backbone weights, or ``None`` for a seeded random init.
        splits: Split names (``'train'``, ``'val'``).
        out_dir: Output folder.

    Returns:
        ``{split: feature shape}``.
    """
    backbone = get_model(cfg, pretrain)
    shapes = {}
    for split in splits:
        feats, labels = split_features(cfg, backbone, backbone.preprocessing.data_preprocessor,
                                       split)
        paths = save_split(out_dir, split, feats, labels)
        written = (f'labels {labels.shape} -> {paths[1]}' if len(paths) == 2
                   else 'no labels (unlabeled images)')
        print(f'{split}: features {feats.shape} -> {paths[0]}, {written}')
        shapes[split] = feats.shape
    return shapes


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    extract_splits(cfg, args.pretrain, SPLITS[args.split], args.out_dir)
    print(f'extract_features done: results in {osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    main()
