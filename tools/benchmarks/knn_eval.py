#!/usr/bin/env python
"""Weighted kNN evaluation of a pretrained backbone (frozen, L2-normalised GAP features).

Prints top-1/top-5 for every k and writes them to WORK_DIR/knn_results.json (WORK_DIR defaults
to work_dirs/<config name>, the rule of every tool); ``k_used`` is the number of neighbours that voted (k capped
at the bank size, said on the console). Both lists need a label on every sample, and the
checkpoint's weights must be finite. With --linear-probe, the same features also get the linear
probe (mmmoco.evaluation.linear_probe: standardised features, logistic regression, L2 penalty
by 5-fold cross-validation on the bank), reported as ``linear_probe`` in the same file. An
existing knn_results.json is never overwritten silently: the run stops before extracting
features unless --force is given.
"""
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
from mmmoco.evaluation.labels import require_labels
from mmmoco.evaluation.linear_probe import linear_probe
from mmmoco.apis import register_all_modules
from mmmoco.apis.cli import default_work_dir
from mmmoco.apis.transfer import drop_persistent_workers
from mmmoco.utils.distributed import get_rank

#: Name of the results file in the work dir.
RESULT_FILE = 'knn_results.json'


def result_path(args: argparse.Namespace) -> str:
    """Where the results go, refusing to replace an earlier run's unless ``--force``.

    Args:
        args: The parsed command line.

    Returns:
        ``WORK_DIR/knn_results.json``.

    Raises:
        SystemExit: If the file exists and ``--force`` is not given.
    """
    work_dir = args.work_dir or default_work_dir(args.config)
    path = osp.join(work_dir, RESULT_FILE)
    if osp.exists(path) and not args.force:
        raise SystemExit(f'knn_eval.py: {path} exists (an earlier run); pass --force to '
                         'overwrite it or --work-dir to write elsewhere')
    return path


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='kNN config (configs/benchmarks/knn/...)')
    parser.add_argument('pretrain', nargs='?', default=None,
                        help='mmmoco checkpoint or extracted backbone; omit (or "") for random '
                             'init')
    parser.add_argument('--work-dir', help=f'folder of {RESULT_FILE} (default: '
                                           'work_dirs/<config name>)')
    parser.add_argument('--force', action='store_true',
                        help=f'overwrite an existing WORK_DIR/{RESULT_FILE} (without it the run '
                             'refuses to start)')
    parser.add_argument('--linear-probe', action='store_true',
                        help='also fit the linear probe on the bank features and report its '
                             'top-1 on the queries (same features, same split)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.batch_size=128')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    return parser.parse_args()


def main() -> None:
    """Extract bank and query features, vote, print and save top-1/top-5 for each k."""
    args = parse_args()
    out_path = result_path(args)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    drop_persistent_workers(cfg)  # torch refuses persistent workers with num_workers=0
    if args.launcher == 'pytorch' and not dist.is_initialized():
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    seed = config_seed(cfg)
    try:
        bank_loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
        query_loader = Runner.build_dataloader(cfg.val_dataloader, seed=seed)
        require_labels(bank_loader.dataset, 'kNN', 'train_dataloader: the bank')
        require_labels(query_loader.dataset, 'kNN', 'val_dataloader: the queries')
        backbone, preprocessor = build_frozen_backbone(cfg, args.pretrain, device)
    except ValueError as error:
        raise SystemExit(f'knn_eval.py: {error}') from None
    bank = extract_features(backbone, preprocessor, bank_loader,
                            progress='kNN bank (train_dataloader)')
    query = extract_features(backbone, preprocessor, query_loader,
                             progress='kNN queries (val_dataloader)')
    num_classes = int(max(bank[1].max(), query[1].max())) + 1
    results = {}
    for k in cfg.knn.k:
        scores = knn_class_scores(query[0], bank[0], bank[1], num_classes, k=k,
                                  temperature=cfg.knn.temperature)
        # k_used: the neighbours that voted (k is capped at the bank size)
        results[f'k={k}'] = dict(topk_accuracy(scores, query[1], topk=(1, 5)),
                                 k_used=min(k, len(bank[1])))
    report = dict(pretrain=args.pretrain, results=results)
    if args.linear_probe:
        report['linear_probe'] = linear_probe(bank[0], bank[1], query[0], query[1], seed=seed)
    if get_rank() == 0:
        print(f'kNN ({len(bank[1])} bank, {len(query[1])} queries, T={cfg.knn.temperature}, '
              f'pretrain={args.pretrain or "random init"})')
        for name, acc in results.items():
            capped = (f' (capped to {acc["k_used"]}: the bank has {len(bank[1])} features)'
                      if f'k={acc["k_used"]}' != name else '')
            print(f'  {name:>6}: top-1 {acc["top1"]:6.2f}  top-5 {acc["top5"]:6.2f}{capped}')
        if args.linear_probe:
            probe = report['linear_probe']
            print(f'  linear probe: top-1 {probe["top1"]:6.2f}  (L2 penalty '
                  f'{probe["weight_decay"]:g}, cross-validated top-1 {probe["cv_top1"]:.2f})')
        os.makedirs(osp.dirname(out_path), exist_ok=True)
        with open(out_path, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        print(f'results written to {out_path}')


if __name__ == '__main__':
    main()
