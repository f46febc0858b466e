#!/usr/bin/env bash
# kNN evaluation: tools/benchmarks/knn_eval.sh CONFIG PRETRAIN GPUS [knn_eval.py args]
# PRETRAIN "" evaluates the random initialisation. GPUS=1 runs one process; more run under
# torchrun (gloo on CPU-only machines). Results: work_dirs/<config name>/knn_results.json
# (as for every tool) unless --work-dir.
set -euo pipefail
CONFIG=$1
PRETRAIN=$2
GPUS=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../launch.sh" "$here/knn_eval.py" "$GPUS" "$CONFIG" "$PRETRAIN" "$@"
