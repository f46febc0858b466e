#!/usr/bin/env bash
# Runs a python entry point on NPROC processes: tools/launch.sh SCRIPT NPROC [script args]
# NPROC <= 1: one plain process. Otherwise torchrun, one process per GPU (gloo on CPU-only
# machines, where NPROC is the number of processes), with "--launcher pytorch" appended.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT. The interpreter: PYTHON if set, else the
# project's .venv/bin/python when it exists (no need to activate it), else python3.
# Shared by dist_train.sh and the tools/benchmarks wrappers.
set -euo pipefail
SCRIPT=$1
NPROC=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/python_env.sh"
if [ "$NPROC" -le 1 ] && [ "${NNODES:-1}" -le 1 ]; then
  exec "$PYTHON" "$SCRIPT" "$@"
fi
# Several CPU processes on a small machine: one thread each unless the user says otherwise.
# MKL gets the same number (mmengine would otherwise set it to 1 with a warning on every rank).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROC" "$SCRIPT" "$@" --launcher pytorch
