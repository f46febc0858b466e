#!/usr/bin/env python
"""Weighted kNN evaluation of a pretrained backbone (frozen, L2-normalised GAP features)."""
import argparse
import json
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmmoco.evaluation import extract_features, knn_class_scores, topk_accuracy
from mmmoco.evaluation.frozen_backbone import build_frozen_backbone, config_seed
from mmmoco.apis import register_all_modules
from mmmoco.utils.distributed import get_rank


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='kNN config (configs/benchmarks/knn/...)')
    parser.add_argument('pretrain', nargs='?', default=None,
                        help='mmmoco checkpoint or extracted backbone; omit for random init')
    parser.add_argument('--work-dir', help='where results.json goes')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    return parser.parse_args()


def main() -> None:
    """Extract bank and query features, vote, print and save top-1/top-5 for each k."""
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.launcher == 'pytorch' and not dist.is_initialized():
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    backbone, preprocessor = build_frozen_backbone(cfg, args.pretrain, device)
    seed = config_seed(cfg)
    bank = extract_features(backbone, preprocessor, Runner.build_dataloader(
        cfg.train_dataloader, seed=seed))
    query = extract_features(backbone, preprocessor, Runner.build_dataloader(
        cfg.val_dataloader, seed=seed))
    num_classes = int(max(bank[1].max(), query[1].max())) + 1
    results = {}
    for k in cfg.knn.k:
        scores = knn_class_scores(query[0], bank[0], bank[1], num_classes, k=k,
                                  temperature=cfg.knn.temperature)
        results[f'k={k}'] = topk_accuracy(scores, query[1], topk=(1, 5))
    if get_rank() == 0:
        print(f'kNN ({len(bank[1])} bank, {len(query[1])} queries, T={cfg.knn.temperature}, '
              f'pretrain={args.pretrain or "random init"})')
        for name, acc in results.items():
            print(f'  {name:>6}: top-1 {acc["top1"]:6.2f}  top-5 {acc["top5"]:6.2f}')
        work_dir = args.work_dir or osp.join('work_dirs', 'knn',
                                             osp.splitext(osp.basename(args.config))[0])
        os.makedirs(work_dir, exist_ok=True)
        with open(osp.join(work_dir, 'knn_results.json'), 'w', encoding='utf-8') as f:
            json.dump(dict(pretrain=args.pretrain, results=results), f, indent=2)


if __name__ == '__main__':
    main()
