#!/usr/bin/env bash
# Runs a python entry point on NPROC processes: tools/launch.sh SCRIPT NPROC [script args]
# NPROC <= 1: one plain process. Otherwise torchrun (tools/launch_ranks.py), one process per
# GPU (gloo on CPU-only machines, where NPROC is the number of processes), with
# "--launcher pytorch" appended; it exits with the workers' status (75: preempted, saved).
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
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-$OMP_NUM_THREADS}
# torchrun passes SIGUSR1 (the signal slurm_train.sh asks for) on to the workers like SIGTERM
# and SIGINT (its --signals-to-handle; a torchrun without that option ignores the variable);
# tools/launch_ranks.py exits with the workers' status (75: preempted, saved)
export PET_SIGNALS_TO_HANDLE=${PET_SIGNALS_TO_HANDLE:-SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1}
exec "$PYTHON" "$root/tools/launch_ranks.py" \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROC" "$SCRIPT" "$@" --launcher pytorch
