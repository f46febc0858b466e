# MoCo v3, ResNet-50, 8 devices x 512 images (batch 4096), 100 epochs on ImageNet-1k, mixed
# precision. Reproduces moco-v3 CONFIG.md "ResNet-50, 100-epoch pre-training" (2 nodes x 8 GPUs):
#   python main_moco.py --moco-m-cos --crop-min=.2 --dist-url 'tcp://[first node]:[port]'
#     --multiprocessing-distributed --world-size 2 --rank 0 [imagenet-folder]
# i.e. main_moco.py's defaults: -b 4096, LARS, --lr .6 (per 256), --wd 1e-6, --warmup-epochs 10,
# --moco-m .99 (cosine to 1), --moco-t 1.0, --moco-dim 256, --moco-mlp-dim 4096.
# Published linear top-1 (main_lincls.py; here
# configs/benchmarks/linear_eval/resnet50_mocov3-linear-8xb128-coslr-90e_imagenet.py): 68.9.
_base_ = [
    './_base_/models/mocov3_r50.py',
    './_base_/datasets/imagenet_mocov3_r50.py',
    './_base_/schedules/mocov3_lars-coslr-100e.py',
    './_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=512)
# --moco-m-cos: m rises from 0.99 to 1 along a half-cosine over all iterations.
# fixed input size (224 px crops): let cuDNN pick the fastest convolution algorithms
env_cfg = dict(cudnn_benchmark=True)
