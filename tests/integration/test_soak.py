"""Smoke test of tools/perf/soak_test.py (the soak run itself takes minutes: a few
hundred iterations, see docs/reliability.md): a few iterations of the small Fashion-MNIST
recipe with 2 data loader workers, RSS reported at start and end."""
import json
import sys

from conftest import fashion_mnist_slice
from runs import run_command


def test_soak_script_reports_rss_at_start_and_end(tmp_path):
    data = fashion_mnist_slice(str(tmp_path / 'fmnist'), 4, 1)
    out = str(tmp_path / 'soak.json')
    stdout = run_command(
        [sys.executable, 'tools/perf/soak_test.py', data, '--iters', '6',
         '--batch-size', '8', '--num-workers', '2', '--work-dir', str(tmp_path / 'work'),
         '--out', out, '--max-growth-mb', '1000'], timeout=300)
    measured = json.load(open(out))
    # 40 images / 8 per batch = 5 iterations per epoch: 2 epochs cover 6 iterations
    assert measured['iterations'] == 10 and measured['epochs'] == 2
    assert measured['rss_start_mb'] > 50 and measured['rss_end_mb'] > 50
    # two data loader workers alive at each epoch's last iteration
    assert len(measured['worker_rss_mb']) == 2 and min(measured['worker_rss_mb']) > 50
    line = [line for line in stdout.splitlines() if line.startswith('soak: ')][-1]
    assert 'RSS' in line and 'after the first iteration' in line, line
    print(line)
