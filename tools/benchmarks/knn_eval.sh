#!/usr/bin/env bash
# kNN evaluation: tools/benchmarks/knn_eval.sh CONFIG PRETRAIN GPUS [knn_eval.py args]
# GPUS=1 runs one process; more run under torchrun (gloo on CPU-only machines).
set -euo pipefail
CONFIG=$1
PRETRAIN=$2
GPUS=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}
export PYTHONPATH="$here/../..${PYTHONPATH:+:$PYTHONPATH}"
if [ "$GPUS" -le 1 ]; then
  exec "$PYTHON" "$here/knn_eval.py" "$CONFIG" "$PRETRAIN" "$@"
fi
exec "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" \
  --master_port="${PORT:-29501}" "$here/knn_eval.py" "$CONFIG" "$PRETRAIN" --launcher pytorch "$@"
