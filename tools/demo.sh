#!/usr/bin/env bash
# The main job on the embedded default dataset, from a fresh machine (2 CPU cores suffice):
#  1. installs what it needs (virtualenv with torch, mmengine and mmmoco; the Debian data);
#  2. writes Fashion-MNIST (Debian package dataset-fashion-mnist) as an ImageNet-style folder:
#     MMMOCO_DEMO_TRAIN_PER_CLASS train (300) and MMMOCO_DEMO_VAL_PER_CLASS test (200) images
#     per class;
#  3. evaluates the raw-pixel baseline (weighted kNN and the linear probe on the pixels);
#  4. for each seed: pretrains MoCo with the 2-core recipe on MMMOCO_DEMO_PROCS (2) processes
#     of 1 thread (gloo DDP; online kNN every few epochs; a run that finds its checkpoints
#     continues from them), then evaluates the backbone at random initialisation and after
#     pretraining, same protocol;
#  5. prints the table (mean ± std over seeds, gain over the best baseline) and writes the PNG
#     of online kNN top-1 against epoch with the baselines.
# Usage: bash tools/demo.sh [--seeds N] [extra tools/train.py args for the pretraining]
# Env: MMMOCO_DEMO_CONFIG (pretraining config), MMMOCO_DEMO_DATA, MMMOCO_DEMO_WORK_DIR,
# MMMOCO_DEMO_PROCS (training processes), PORT (their rendezvous port, default 29500).
set -euo pipefail
start=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seeds=1
if [ "${1:-}" = --seeds ]; then
  seeds=${2:?--seeds needs a number}
  shift 2
fi
case $seeds in
  ''|*[!0-9]*|0) echo "demo.sh: --seeds must be a positive integer, got '$seeds'" >&2; exit 2 ;;
esac
bash tools/install/system_data.sh
bash tools/install/setup_env.sh --core
py=.venv/bin/python
data=${MMMOCO_DEMO_DATA:-data/fashion_mnist}
work=${MMMOCO_DEMO_WORK_DIR:-work_dirs/demo_fashionmnist}
pretrain_cfg=${MMMOCO_DEMO_CONFIG:-configs/mocov2_r18w16-small_2xb32-amp-coslr-120e_fashionmnist.py}
procs=${MMMOCO_DEMO_PROCS:-2}
precision=()
if ! grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
  # bf16 autocast without the CPU's bf16 instructions is slower than float32
  echo "[demo] this CPU has no AVX512-BF16/AMX: pretraining in float32 (slower than the README's run)"
  precision=(optim_wrapper.type=OptimWrapper)
fi
$py tools/dataset_converters/prepare_fashion_mnist.py "$data" \
  --train-per-class "${MMMOCO_DEMO_TRAIN_PER_CLASS:-300}" \
  --val-per-class "${MMMOCO_DEMO_VAL_PER_CLASS:-200}"

knn_cfg=configs/benchmarks/knn/resnet18w16-small_knn_fashionmnist.py
roots=("train_dataloader.dataset.data_root=$data" "val_dataloader.dataset.data_root=$data")
evaluate() {  # evaluate NAME CONFIG [CHECKPOINT] [extra --cfg-options]
  local name=$1 config=$2 weights=$3
  shift 3
  echo "[demo] kNN and linear probe: $name"
  $py tools/benchmarks/knn_eval.py "$config" ${weights:+"$weights"} --linear-probe --force \
    --work-dir "$work/eval/$name" --cfg-options "${roots[@]}" "$@"
}

evaluate pixels configs/benchmarks/knn/raw-pixels_knn_fashionmnist.py ""
for (( seed = 0; seed < seeds; seed++ )); do
  echo "[demo] MoCo pretraining, seed $seed"
  resume=()  # a second run continues (or just re-evaluates) the first instead of refusing
  [ -f "$work/pretrain_seed$seed/last_checkpoint" ] && resume=(--resume)
  OMP_NUM_THREADS=1 bash tools/dist_train.sh "$pretrain_cfg" "$procs" \
    --work-dir "$work/pretrain_seed$seed" "${resume[@]}" \
    --cfg-options "train_dataloader.dataset.data_root=$data" "${precision[@]}" \
    "custom_hooks.0.bank_dataloader.dataset.data_root=$data" \
    "custom_hooks.0.query_dataloader.dataset.data_root=$data" randomness.seed=$seed "$@"
  evaluate "random_seed$seed" "$knn_cfg" "" randomness.seed=$seed
  evaluate "moco_seed$seed" "$knn_cfg" "$(cat "$work/pretrain_seed$seed/last_checkpoint")"
done

echo
echo "Fashion-MNIST test split ($data), ResNet-18 (small stem, width 16): MoCo vs baselines"
$py tools/benchmarks/demo_table.py "$work"
echo "wall time: $(( $(date +%s) - start )) s"
