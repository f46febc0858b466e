"""tools/perf/benchmark_step.py as one rank of a 2-process gloo run (tools/launch.sh): the demo
recipe's own path, DDP and Shuffle BN across the ranks instead of the split-BN emulation."""
import json
import os.path as osp

from conftest import ROOT
from runs import run_command

DEMO_2X_CONFIG = osp.join(ROOT, 'configs',
                          'mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py')


def test_benchmark_step_runs_as_two_ranks_without_split_bn():
    output = run_command(['bash', 'tools/launch.sh', 'tools/perf/benchmark_step.py', '2',
                          DEMO_2X_CONFIG, '--batch-size', '4', '--input-size', '16',
                          '--queue-len', '64', '--iters', '1', '--warmup', '1', '--rounds', '1',
                          '--threads', '1', '--json'], timeout=600)
    lines = [line for line in output.splitlines() if line.startswith('{')]
    assert len(lines) == 1  # rank 0 reports
    result = json.loads(lines[0])
    assert result['world_size'] == 2 and not result['split_bn']
    assert set(result['variants']) == {'floor', 'framework', 'framework + batched augmentation'}
    assert all(v['median_ms'] > 0 for v in result['variants'].values())
