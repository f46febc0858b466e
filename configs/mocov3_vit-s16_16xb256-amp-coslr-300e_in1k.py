# MoCo v3, ViT-Small/16, 16 devices x 256 images (batch 4096), 300 epochs on ImageNet-1k, mixed
# precision. Reproduces moco-v3 CONFIG.md "ViT-Small, 4-node (32-GPU) pre-training" (batch 4096,
# the setup of the published model):
#   python main_moco.py -a vit_small --optimizer=adamw --lr=1.5e-4 --weight-decay=.1
#     --epochs=300 --warmup-epochs=40 --stop-grad-conv1 --moco-m-cos --moco-t=.2
#     --dist-url 'tcp://[first node]:[port]' --multiprocessing-distributed --world-size 8
#     --rank 0 [imagenet-folder]
# (-b 4096, --moco-m .99 cosine to 1, --crop-min .08 are main_moco.py's defaults; CONFIG.md
# writes --world-size 8 for this 4-node run, where 4 is meant: -b is the total batch anyway.)
# Published linear top-1 (main_lincls.py -a vit_small --lr=3; here
# configs/benchmarks/linear_eval/vit-s16_linear-8xb128-coslr-90e_imagenet.py): 73.2.
# A 2-process CPU smoke run of this recipe, shrunk on the command line (2 images per rank,
# 32 px, a 2-block ViT): tests/test_tools/test_mocov3_ddp.py (tiny_vit_options).
_base_ = [
    './_base_/models/mocov3_vit-s16.py',
    './_base_/datasets/imagenet_mocov3.py',
    './_base_/schedules/mocov3_adamw-coslr-300e.py',
    './_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=256)
# --moco-m-cos: m rises from 0.99 to 1 along a half-cosine over all iterations.
# fixed input size (224 px crops): let cuDNN pick the fastest convolution algorithms
env_cfg = dict(cudnn_benchmark=True)
