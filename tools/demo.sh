#!/usr/bin/env bash
# The main job on the embedded default dataset, from a fresh machine:
# installs everything, writes Fashion-MNIST (Debian package dataset-fashion-mnist) as an
# ImageNet-style folder (300 images per class by default: MMMOCO_DEMO_TRAIN_PER_CLASS), and
# pretrains MoCo v2 (ResNet-18, small-image stem) for 10 epochs on 2 CPU cores, then
# reports weighted-kNN accuracy on the test split for random init and for the pretrained model.
# Usage: bash tools/demo.sh [extra tools/train.py args, e.g. --cfg-options train_cfg.max_epochs=5]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install/system_data.sh
bash tools/install/setup_env.sh
py=.venv/bin/python
data=${MMMOCO_DEMO_DATA:-data/fashion_mnist}
$py tools/dataset_converters/prepare_fashion_mnist.py "$data" \
  --train-per-class "${MMMOCO_DEMO_TRAIN_PER_CLASS:-300}" \
  --val-per-class "${MMMOCO_DEMO_VAL_PER_CLASS:-200}"
work=work_dirs/demo_mocov2_fashionmnist
$py tools/train.py configs/mocov2_r18-small_1xb128-coslr-10e_fashionmnist.py \
  --work-dir "$work" --cfg-options "train_dataloader.dataset.data_root=$data" "$@"
# kNN top-1 of the same backbone at random initialisation and after MoCo pretraining
knn_cfg=configs/benchmarks/knn/resnet18-small_knn_fashionmnist.py
knn_data=("train_dataloader.dataset.data_root=$data" "val_dataloader.dataset.data_root=$data")
$py tools/benchmarks/knn_eval.py "$knn_cfg" --work-dir "$work/knn_random" \
  --cfg-options "${knn_data[@]}"
$py tools/benchmarks/knn_eval.py "$knn_cfg" "$(cat "$work/last_checkpoint")" \
  --work-dir "$work/knn_mocov2" --cfg-options "${knn_data[@]}"
