#!/usr/bin/env bash
# Distributed training, one process per device: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Without CUDA the processes use gloo on CPU (GPUS is then the number of processes).
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/launch.sh" "$here/train.py" "$GPUS" "$CONFIG" "$@"
