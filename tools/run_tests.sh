#!/usr/bin/env bash
# Sets up everything (virtualenv, torch, mmengine, mmcv with ops, mmdet, mmseg, sample data)
# and runs the test suite: bash tools/run_tests.sh [pytest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install/system_data.sh
bash tools/install/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider --timeout=1200 "$@"
