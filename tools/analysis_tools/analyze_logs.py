#!/usr/bin/env python
"""Plot or summarise mmengine json logs (``<work_dir>/<timestamp>/vis_data/scalars.json``).

``plot_curve LOG [LOG ...] --keys loss lr --out curves.png`` draws one panel per key with one
curve per log, named after its run (the work dir; ``--legend`` for other names) under a title;
``summary LOG`` prints the last/min/max of every logged scalar.
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Counters written by mmengine next to the scalars; the x axes, not curves.
COUNTER_KEYS = ('epoch', 'iter', 'step')


def parse_args() -> argparse.Namespace:
    """Parse the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    plot = commands.add_parser('plot_curve', help='plot scalars of one or more logs')
    plot.add_argument('logs', nargs='+', help='scalars.json files')
    plot.add_argument('--keys', nargs='+', default=['loss'], help='scalars to plot')
    plot.add_argument('--legend', nargs='+',
                      help='one name per log (default: the work dir of each run)')
    plot.add_argument('--xaxis', choices=['step', 'epoch'], default='step')
    plot.add_argument('--title', default=None,
                      help='figure title (default: the run, or the number of runs)')
    plot.add_argument('--out', required=True, help='output image (e.g. curves.png)')
    summary = commands.add_parser('summary', help='print last/min/max of every scalar')
    summary.add_argument('log', help='a scalars.json file')
    return parser.parse_args()


def load_log(path: str) -> List[dict]:
    """Read an mmengine json log, one json object per line.

    Args:
        path: The ``scalars.json`` file.

    Returns:
        The records, in file order.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If a line is not a json object (names file and line) or the log is empty.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'log file {path} does not exist')
    records = []
    with open(path, encoding='utf-8') as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{line_number}: not valid json ({err})') from err
            if not isinstance(record, dict):
                raise ValueError(f'{path}:{line_number}: expected a json object, got {line!r}')
            records.append(record)
    if not records:
        raise ValueError(f'log file {path} is empty')
    return records


def scalar_keys(records: Sequence[dict]) -> List[str]:
    """The numeric keys logged anywhere in a log, counters excluded.

    Args:
        records: The log records.

    Returns:
        The keys, sorted.
    """
    return sorted({key for record in records for key, value in record.items()
                   if key not in COUNTER_KEYS and isinstance(value, (int, float))})


def x_value(record: dict, xaxis: str) -> Optional[float]:
    """The x coordinate of a record.

    mmengine writes validation lines without ``epoch``; their ``step`` is the epoch in
    epoch-based training, so it stands in for the epoch there.

    Args:
        record: One log record.
        xaxis: ``'step'`` or ``'epoch'``.

    Returns:
        The coordinate, or ``None`` if the record has none.
    """
    if xaxis == 'epoch' and 'epoch' not in record:
        return record.get('step')
    return record.get(xaxis)


def extract_curve(records: Sequence[dict], key: str, xaxis: str = 'step',
                  log_name: str = 'log') -> Tuple[List[float], List[float]]:
    """The (x, value) points of one scalar.

    Args:
        records: The log records.
        key: The scalar, e.g. ``'loss'``.
        xaxis: ``'step'`` or ``'epoch'``.
        log_name: Name of the log, for error messages.

    Returns:
        The x coordinates and the values.

    Raises:
        ValueError: If no record logs ``key``; the message lists the available keys.
    """
    points = [(x_value(r, xaxis), r[key]) for r in records if key in r]
    if not points:
        raise ValueError(f'{key!r} is not logged in {log_name}; available keys: '
                       f'{", ".join(scalar_keys(records))}')
    points = [(x, value) for x, value in points if x is not None]
    return [x for x, _ in points], [value for _, value in points]


def run_folders(path: str) -> Tuple[str, str]:
    """The work dir and timestamp folder names of a log in mmengine's layout.

    Args:
        path: The log file.

    Returns:
        ``(work dir name, timestamp)`` for ``WORK_DIR/<timestamp>/vis_data/scalars.json``;
        otherwise the file's stem and ``''``.
    """
    folder = osp.dirname(osp.abspath(path))
    if osp.basename(path) == 'scalars.json' and osp.basename(folder) == 'vis_data':
        timestamp_dir = osp.dirname(folder)
        return osp.basename(osp.dirname(timestamp_dir)), osp.basename(timestamp_dir)
    return osp.splitext(osp.basename(path))[0], ''


def run_names(paths: Sequence[str]) -> List[str]:
    """Readable names of logs: the work dir of each run (``work_dirs/<config name>`` by
    default, so the config name), with the timestamp added only where two logs share a work
    dir (a resumed run).

    Args:
        paths: The log files.

    Returns:
        One name per log.
    """
    folders = [run_folders(path) for path in paths]
    work_dirs = [work_dir for work_dir, _ in folders]
    return [f'{work_dir} ({timestamp})' if work_dirs.count(work_dir) > 1 and timestamp
            else work_dir for work_dir, timestamp in folders]


def curve_figure(logs: Sequence[str], keys: Sequence[str],
                 legend: Optional[Sequence[str]] = None, xaxis: str = 'step',
                 title: Optional[str] = None) -> Figure:
    """The curves of several logs: one panel per key, one curve per log, under a title.

    Args:
        logs: ``scalars.json`` files.
        keys: Scalars to plot.
        legend: One name per log; defaults to :func:`run_names`.
        xaxis: ``'step'`` or ``'epoch'``.
        title: Figure title; defaults to the run's name, or ``'N runs'``.

    Returns:
        The figure (close it with ``plt.close``).

    Raises:
        ValueError: If ``legend`` does not have one entry per log.
        ValueError: Also if a key is missing from a log (lists the available keys).
    """
    if legend is not None and len(legend) != len(logs):
        raise ValueError(f'--legend has {len(legend)} names for {len(logs)} logs')
    names = list(legend) if legend is not None else run_names(logs)
    all_records = [load_log(log) for log in logs]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for log, records, name in zip(logs, all_records, names):
            xs, ys = extract_curve(records, key, xaxis, log)
            ax.plot(xs, ys, marker='.' if len(xs) < 50 else None, label=name)
        ax.set_xlabel(xaxis)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    fig.suptitle(title or (names[0] if len(names) == 1 else f'{len(names)} runs'))
    fig.tight_layout()
    return fig


def plot_curves(logs: Sequence[str], keys: Sequence[str], out: str,
                legend: Optional[Sequence[str]] = None, xaxis: str = 'step',
                title: Optional[str] = None) -> None:
    """Save :func:`curve_figure` as an image.

    Args:
        logs: ``scalars.json`` files.
        keys: Scalars to plot.
        out: Output image path (its folder is created).
        legend: One name per log.
        xaxis: ``'step'`` or ``'epoch'``.
        title: Figure title.
    """
    fig = curve_figure(logs, keys, legend, xaxis, title)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def summarize(records: Sequence[dict]) -> Dict[str, object]:
    """Last, min and max (over finite values) of every scalar, and the training iterations.

    Args:
        records: The log records.

    Returns:
        ``{'train_steps': int, 'scalars': {key: {'last', 'min', 'max', 'count'}}}``;
        ``train_steps`` is the largest ``iter`` of the training lines (0 when none).
    """
    scalars = {}
    for key in scalar_keys(records):
        values = [r[key] for r in records if isinstance(r.get(key), (int, float))]
        finite = [v for v in values if math.isfinite(v)] or values
        scalars[key] = dict(last=values[-1], min=min(finite), max=max(finite),
                            count=len(values))
    train_steps = max((int(r['iter']) for r in records if 'iter' in r), default=0)
    return dict(train_steps=train_steps, scalars=scalars)


def format_summary(path: str, summary: Dict[str, object]) -> str:
    """A printable table of :func:`summarize`'s result.

    Args:
        path: The log file (header line).
        summary: The summary.

    Returns:
        The table.
    """
    width = max([len(key) for key in summary['scalars']] + [3])
    lines = [f'{path}: {summary["train_steps"]} train steps',
             f'{"key":<{width}}  {"last":>12}  {"min":>12}  {"max":>12}  {"count":>6}']
    for key, stats in summary['scalars'].items():
        lines.append(f'{key:<{width}}  {stats["last"]:>12.6g}  {stats["min"]:>12.6g}  '
                     f'{stats["max"]:>12.6g}  {stats["count"]:>6d}')
    return '\n'.join(lines)


def main() -> None:
    """Command-line entry point."""
    args = parse_args()
    if args.command == 'plot_curve':
        plot_curves(args.logs, args.keys, args.out, args.legend, args.xaxis, args.title)
        print(f'{", ".join(args.keys)} of {len(args.logs)} log(s) plotted to {args.out}')
    else:
        print(format_summary(args.log, summarize(load_log(args.log))))


if __name__ == '__main__':
    main()
