#!/usr/bin/env bash
# Fine-tune an mmdet detector or an mmseg segmentor (configs/benchmarks/mmdetection,
# configs/benchmarks/mmsegmentation) from a pretrained backbone:
#   tools/benchmarks/downstream_train.sh CONFIG PRETRAIN GPUS [args]
# The config's default_scope ('mmdet' or 'mmseg') says which of the two trains it.
# args: --work-dir DIR, --cfg-options KEY=VALUE ..., --resume [CKPT], --amp (CUDA).
# PRETRAIN: a backbone from tools/model_converters/extract_backbone.py, or an mmmoco training
# checkpoint (its backbone. weights are used). The run stops before training, naming the keys,
# if the file lacks any weight of the modules it initialises. GPUS=1 runs one process; more run
# under torchrun, one process per GPU (gloo on CPU-only machines: GPUS is then the number of
# processes). Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT as for tools/dist_train.sh.
# Work dir default (as for every tool): work_dirs/<config name>.
set -euo pipefail
usage="usage: $0 CONFIG PRETRAIN GPUS [args]"
CONFIG=${1:?$usage}
PRETRAIN=${2:?$usage}
GPUS=${3:?$usage}
shift 3
[ -f "$PRETRAIN" ] || { echo "$0: pretrain checkpoint '$PRETRAIN' not found" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../launch.sh" "$here/downstream_train.py" "$GPUS" "$CONFIG" "$PRETRAIN" "$@"
