# MoCo v2, ResNet-50, 8 GPUs x 32 images, 200 epochs on ImageNet-1k (Chen et al. 2020).
_base_ = [
    './_base_/models/mocov2_r50.py',
    './_base_/datasets/imagenet_mocov2.py',
    './_base_/schedules/sgd_coslr_200e.py',
    './_base_/default_runtime.py',
]
# fixed input size (224 px crops): let cuDNN pick the fastest convolution algorithms
env_cfg = dict(cudnn_benchmark=True)
