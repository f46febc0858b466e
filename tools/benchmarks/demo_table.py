#!/usr/bin/env python
"""The demo's report: MoCo pretraining against raw pixels and random init, and its kNN curve.

Reads the evaluations that tools/demo.sh writes under WORK_DIR::

    eval/pixels/knn_results.json             raw-pixel baseline (no seed: nothing is random)
    eval/random_seed<S>/knn_results.json     the backbone at random initialisation, seed S
    eval/moco_seed<S>/knn_results.json       the backbone after pretraining with seed S
    pretrain_seed<S>/<timestamp>/vis_data/scalars.json   online kNN during pretraining

Each results file holds the weighted kNN top-1 (k=20, k=200) and the linear probe's top-1
(tools/benchmarks/knn_eval.py --linear-probe). Prints a markdown table (mean and standard
deviation over the seeds when there are several), the gain of pretraining over the best
baseline in each column, and writes a PNG of kNN top-1 (k=20) against epoch with the baselines
as horizontal lines.
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics
from typing import Dict, List, Sequence, Tuple

#: Table columns: (label, function reading the value from a results file).
COLUMNS = (
    ('kNN top-1 (k=20)', lambda r: r['results']['k=20']['top1']),
    ('kNN top-1 (k=200)', lambda r: r['results']['k=200']['top1']),
    ('linear probe top-1', lambda r: r['linear_probe']['top1']),
)

#: The online kNN value plotted against epoch.
CURVE_KEY = 'knn/top1_k20'


def read_json(path: str) -> Dict:
    """Read a results file, naming it if it is missing.

    Args:
        path: The json file.

    Returns:
        Its content.

    Raises:
        SystemExit: If the file is missing.
    """
    if not osp.isfile(path):
        raise SystemExit(f'demo_table: results file {path} is missing (did that step fail?)')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def seeds_of(work_dir: str, prefix: str) -> List[int]:
    """The seeds that have an evaluation folder ``eval/<prefix>_seed<S>``.

    Args:
        work_dir: The demo's work dir.
        prefix: ``'moco'`` or ``'random'``.

    Returns:
        The seeds, sorted.
    """
    found = glob.glob(osp.join(work_dir, 'eval', f'{prefix}_seed*'))
    return sorted(int(re.search(r'_seed(\d+)$', path).group(1)) for path in found
                  if re.search(r'_seed(\d+)$', path))


def scores(paths: Sequence[str]) -> List[List[float]]:
    """The table's columns for each results file.

    Args:
        paths: Results files (one per seed).

    Returns:
        One list of values per column, one value per file.

    Raises:
        SystemExit: If a file lacks a column (e.g. knn_eval.py ran without --linear-probe).
    """
    results = [read_json(path) for path in paths]
    columns = []
    for label, read in COLUMNS:
        try:
            columns.append([float(read(r)) for r in results])
        except KeyError as error:
            raise SystemExit(f'demo_table: {label} ({error}) is missing from one of '
                             f'{list(paths)}') from None
    return columns


def cell(values: Sequence[float]) -> str:
    """``mean`` for one value, ``mean ± std`` (sample standard deviation) for several.

    Args:
        values: The value of each seed.

    Returns:
        The formatted cell.
    """
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def table(work_dir: str) -> Tuple[str, Dict[str, List[float]]]:
    """The markdown table of baselines, pretraining and the gain over the best baseline.

    Args:
        work_dir: The demo's work dir.

    Returns:
        The table, and the mean of each row's columns by row name (``pixels``, ``random``,
        ``moco``) for the plot.

    Raises:
        SystemExit: If there is no pretrained or no random-init evaluation.
    """
    moco_seeds = seeds_of(work_dir, 'moco')
    if not moco_seeds:
        raise SystemExit(f'demo_table: no eval/moco_seed*/ under {work_dir}')
    random_seeds = seeds_of(work_dir, 'random')
    if not random_seeds:
        raise SystemExit(f'demo_table: no eval/random_seed*/ under {work_dir}')
    rows = {
        'pixels': ('raw pixels (784-d, normalised)',
                   [osp.join(work_dir, 'eval', 'pixels', 'knn_results.json')]),
        'random': (f'random init ({len(random_seeds)} seed(s))',
                   [osp.join(work_dir, 'eval', f'random_seed{s}', 'knn_results.json')
                    for s in random_seeds]),
        'moco': (f'MoCo pretrained ({len(moco_seeds)} seed(s))',
                 [osp.join(work_dir, 'eval', f'moco_seed{s}', 'knn_results.json')
                  for s in moco_seeds]),
    }
    lines = ['| features | ' + ' | '.join(label for label, _ in COLUMNS) + ' |',
             '|---' * (len(COLUMNS) + 1) + '|']
    means = {}
    for name, (label, paths) in rows.items():
        columns = scores(paths)
        means[name] = [statistics.mean(values) for values in columns]
        lines.append(f'| {label} | ' + ' | '.join(cell(values) for values in columns) + ' |')
    gains = [moco - max(pixels, random) for moco, pixels, random in
             zip(means['moco'], means['pixels'], means['random'])]
    lines.append('| gain over the best baseline | ' + ' | '.join(f'{g:+.2f}' for g in gains)
                 + ' |')
    return '\n'.join(lines), means


def knn_curve(scalars_path: str) -> List[Tuple[int, float]]:
    """(epoch, kNN top-1 k=20) pairs logged by KNNEvalHook during pretraining.

    Args:
        scalars_path: A run's ``vis_data/scalars.json`` (one json object per line).

    Returns:
        The pairs in logged order (empty if the run had no kNN monitor).
    """
    points = []
    with open(scalars_path, encoding='utf-8') as f:
        for line in f:
            record = json.loads(line)
            if CURVE_KEY in record:
                points.append((int(record.get('epoch', record.get('step', 0))),
                               float(record[CURVE_KEY])))
    return points


def plot(work_dir: str, means: Dict[str, List[float]], out_path: str) -> int:
    """Write the PNG of online kNN top-1 against epoch, one line per seed, baselines flat.

    Args:
        work_dir: The demo's work dir.
        means: Row means from :func:`table` (column 0 is kNN top-1 k=20).
        out_path: The PNG to write.

    Returns:
        The number of curves drawn (0: no run logged the kNN monitor; no file is written).
    """
    curves = {}
    for seed in seeds_of(work_dir, 'moco'):
        found = sorted(glob.glob(osp.join(work_dir, f'pretrain_seed{seed}', '*', 'vis_data',
                                          'scalars.json')))
        if found and knn_curve(found[-1]):
            curves[seed] = knn_curve(found[-1])
    if not curves:
        return 0
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for seed, points in curves.items():
        ax.plot(*zip(*points), marker='o', label=f'MoCo pretraining, seed {seed}')
    for name, label, style in (('pixels', 'raw pixels', '--'), ('random', 'random init', ':')):
        ax.axhline(means[name][0], linestyle=style, color='grey', label=label)
    ax.set_xlabel('pretraining epoch')
    ax.set_ylabel('kNN top-1 (k=20), %')
    ax.set_title('Fashion-MNIST test split: online kNN during pretraining')
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize='small')
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return len(curves)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dir', help="the demo's work dir")
    parser.add_argument('--plot', help='PNG to write (default: WORK_DIR/knn_curve.png)')
    args = parser.parse_args()
    text, means = table(args.work_dir)
    print(text)
    out_path = args.plot or osp.join(args.work_dir, 'knn_curve.png')
    if plot(args.work_dir, means, out_path):
        print(f'kNN curve written to {out_path}')
    else:
        print('no kNN curve: the pretraining runs logged no knn/top1_k20')


if __name__ == '__main__':
    main()
