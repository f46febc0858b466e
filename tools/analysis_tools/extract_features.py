#!/usr/bin/env python
"""Save the frozen backbone's GAP features and labels of a kNN config's splits as .npy files.

Writes ``OUT_DIR/{split}_features.npy`` (float32, (N, C)) and ``OUT_DIR/{split}_labels.npy``
(int64, (N,)) in dataset order, for ``train``, ``val`` or both.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from tqdm import tqdm

from mmmoco.evaluation import extract_features
from mmmoco.evaluation.frozen_backbone import build_frozen_backbone, config_seed
from mmmoco.apis import register_all_modules

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
        Features (N, C) float32 and labels (N,) int64, in dataset order.
    """
    loader = Runner.build_dataloader(cfg[f'{split}_dataloader'], seed=config_seed(cfg))
    feats, labels = extract_features(backbone, preprocessor,
                                     tqdm(loader, desc=f'{split} features', unit='batch'))
    return feats.numpy().astype(np.float32), labels.numpy().astype(np.int64)


def save_split(out_dir: str, split: str, feats: np.ndarray, labels: np.ndarray) -> List[str]:
    """Write one split's features and labels.

    Args:
        out_dir: Output folder (created if needed).
        split: Split name used as the file prefix.
        feats: Features (N, C).
        labels: Labels (N,).

    Returns:
        The two paths written.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, f'{split}_features.npy'), osp.join(out_dir, f'{split}_labels.npy')]
    np.save(paths[0], feats)
    np.save(paths[1], labels)
    return paths


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
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    backbone, preprocessor = build_frozen_backbone(cfg, pretrain, device)
    shapes = {}
    for split in splits:
        feats, labels = split_features(cfg, backbone, preprocessor, split)
        paths = save_split(out_dir, split, feats, labels)
        print(f'{split}: features {feats.shape} -> {paths[0]}, labels {labels.shape} -> '
              f'{paths[1]}')
        shapes[split] = feats.shape
    return shapes


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    extract_splits(cfg, args.pretrain, SPLITS[args.split], args.out_dir)


if __name__ == '__main__':
    main()
