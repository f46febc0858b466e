#!/usr/bin/env bash
# The main job on the embedded default dataset, from a fresh machine (2 CPU cores suffice):
#  1. installs what it needs (virtualenv with torch, mmengine and mmmoco; the Debian data);
#  2. writes Fashion-MNIST (Debian package dataset-fashion-mnist) as an ImageNet-style folder
#     (MMMOCO_DEMO_TRAIN_PER_CLASS train and MMMOCO_DEMO_VAL_PER_CLASS test images per class);
#  3. pretrains MoCo v2 (ResNet-18, small-image stem, width 16) with the 2-core recipe;
#  4. evaluates the same backbone at random initialisation and after pretraining with weighted
#     kNN and linear evaluation on the test split, and prints the table.
# Usage: bash tools/demo.sh [extra tools/train.py args for the pretraining]
set -euo pipefail
start=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install/system_data.sh
bash tools/install/setup_env.sh --core
py=.venv/bin/python
data=${MMMOCO_DEMO_DATA:-data/fashion_mnist}
work=${MMMOCO_DEMO_WORK_DIR:-work_dirs/demo_mocov2_fashionmnist}
$py tools/dataset_converters/prepare_fashion_mnist.py "$data" \
  --train-per-class "${MMMOCO_DEMO_TRAIN_PER_CLASS:-300}" \
  --val-per-class "${MMMOCO_DEMO_VAL_PER_CLASS:-200}"

echo "[demo] MoCo v2 pretraining"
$py tools/train.py configs/mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py \
  --work-dir "$work/pretrain" --cfg-options "train_dataloader.dataset.data_root=$data" \
  randomness.seed=0 "$@"
pretrained=$(cat "$work/pretrain/last_checkpoint")

knn_cfg=configs/benchmarks/knn/resnet18w16-small_knn_fashionmnist.py
linear_cfg=configs/benchmarks/linear_eval/resnet18w16-small_linear-1xb256-coslr-10e_fashionmnist.py
roots=("train_dataloader.dataset.data_root=$data" "val_dataloader.dataset.data_root=$data"
       "test_dataloader.dataset.data_root=$data")
for name in random mocov2; do
  weights=()
  [ "$name" = mocov2 ] && weights=("$pretrained")
  echo "[demo] kNN evaluation: $name"
  $py tools/benchmarks/knn_eval.py "$knn_cfg" "${weights[@]}" --work-dir "$work/knn_$name" \
    --cfg-options "${roots[@]:0:2}"
  echo "[demo] linear evaluation: $name"
  pretrain_opt=()
  [ "$name" = mocov2 ] && pretrain_opt=("model.pretrained=$pretrained")
  $py tools/train.py "$linear_cfg" --work-dir "$work/linear_$name" \
    --cfg-options "${roots[@]}" randomness.seed=0 ${MMMOCO_DEMO_LINEAR_OPTIONS:-} \
    "${pretrain_opt[@]}"
  $py tools/test.py "$linear_cfg" "$(cat "$work/linear_$name/last_checkpoint")" \
    --work-dir "$work/linear_$name" --out "$work/linear_$name/metrics.json" \
    --cfg-options "${roots[@]}"
done

echo
echo "Fashion-MNIST test split, ResNet-18 (small stem, width 16): random init vs MoCo v2 pretraining"
$py tools/benchmarks/demo_table.py "$work"
echo "wall time: $(( $(date +%s) - start )) s"
