#!/usr/bin/env bash
# Linear evaluation of a pretrained backbone (frozen, BN in eval mode, one fc layer):
#   tools/benchmarks/linear_eval.sh CONFIG PRETRAIN GPUS [train.py args]
# PRETRAIN: an mmmoco training checkpoint or an extracted backbone; every backbone weight must
# be present and used, or the run stops with the offending keys. GPUS=1 runs one process;
# more run under torchrun (gloo on CPU-only machines). Work dir default (as for every tool):
# work_dirs/<config name>.
set -euo pipefail
CONFIG=$1
PRETRAIN=$2
GPUS=$3
shift 3
[ -f "$PRETRAIN" ] || { echo "linear_eval.sh: pretrain checkpoint '$PRETRAIN' not found" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../launch.sh" "$here/../train.py" "$GPUS" "$CONFIG" \
  "$@" --cfg-options "model.pretrained=$PRETRAIN"
