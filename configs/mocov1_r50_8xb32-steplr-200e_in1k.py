# MoCo v1, ResNet-50, 8 GPUs x 32 images, 200 epochs on ImageNet-1k (He et al. 2020).
_base_ = [
    './_base_/models/mocov1_r50.py',
    './_base_/datasets/imagenet_mocov1.py',
    './_base_/schedules/sgd_steplr_200e.py',
    './_base_/default_runtime.py',
]
# Key encoder: k <- m k + (1 - m) q after each optimizer step, m = 0.999.
# fixed input size (224 px crops): let cuDNN pick the fastest convolution algorithms
env_cfg = dict(cudnn_benchmark=True)
