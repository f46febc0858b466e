#!/usr/bin/env bash
# The main job on the embedded default dataset, from a fresh machine:
# installs everything, writes Fashion-MNIST (Debian package dataset-fashion-mnist) as an
# ImageNet-style folder, and pretrains MoCo v2 (ResNet-18, small-image stem) on 2 CPU cores.
# Usage: bash tools/demo.sh [extra tools/train.py args, e.g. --cfg-options train_cfg.max_epochs=5]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/install/system_data.sh
bash tools/install/setup_env.sh
py=.venv/bin/python
data=${MMMOCO_DEMO_DATA:-data/fashion_mnist}
$py tools/dataset_converters/prepare_fashion_mnist.py "$data" \
  --train-per-class "${MMMOCO_DEMO_TRAIN_PER_CLASS:-1000}"
exec $py tools/train.py configs/mocov2_r18-small_1xb128-coslr-20e_fashionmnist.py \
  --work-dir work_dirs/demo_mocov2_fashionmnist \
  --cfg-options "train_dataloader.dataset.data_root=$data" "$@"
