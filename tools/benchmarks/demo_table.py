#!/usr/bin/env python
"""Print the demo's table: kNN and linear top-1 of random init vs MoCo pretraining."""
import argparse
import json
import os.path as osp
from typing import Dict


def read_json(path: str) -> Dict:
    """Read a results file, naming it if it is missing.

    Args:
        path: The json file.

    Returns:
        Its content.
    """
    if not osp.isfile(path):
        raise SystemExit(f'demo_table: results file {path} is missing (did that step fail?)')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def table(work_dir: str) -> str:
    """The markdown table of the demo's four evaluations and the gain of pretraining.

    Args:
        work_dir: The demo's work dir (holding knn_*/ and linear_*/ results).

    Returns:
        The table.
    """
    rows = ['| backbone | kNN top-1 (k=20) | kNN top-1 (k=200) | linear top-1 |',
            '|---|---|---|---|']
    scores = {}
    for name, label in (('random', 'random init'), ('mocov2', 'MoCo v2 pretrained')):
        knn = read_json(osp.join(work_dir, f'knn_{name}', 'knn_results.json'))['results']
        linear = read_json(osp.join(work_dir, f'linear_{name}', 'metrics.json'))
        scores[name] = [knn['k=20']['top1'], knn['k=200']['top1'], linear['accuracy/top1']]
        rows.append(f'| {label} | ' + ' | '.join(f'{v:.2f}' for v in scores[name]) + ' |')
    gains = [moco - random for moco, random in zip(scores['mocov2'], scores['random'])]
    rows.append('| gain of pretraining | ' + ' | '.join(f'{v:+.2f}' for v in gains) + ' |')
    return '\n'.join(rows)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('work_dir')
    print(table(parser.parse_args().work_dir))


if __name__ == '__main__':
    main()
