# MoCo v3, ResNet-50, 8 devices x 512 images (batch 4096), 1000 epochs on ImageNet-1k, mixed
# precision. Reproduces moco-v3 CONFIG.md "ResNet-50, 1000-epoch pre-training" (2 nodes x 8 GPUs):
#   python main_moco.py --lr=.3 --wd=1.5e-6 --epochs=1000 --moco-m=0.996 --moco-m-cos
#     --crop-min=.2 --dist-url 'tcp://[first node]:[port]' --multiprocessing-distributed
#     --world-size 2 --rank 0 [imagenet-folder]
# i.e. the 300-epoch recipe with weight decay 1.5e-6, 1000 epochs and m from 0.996 (cosine to 1).
# Published linear top-1 (main_lincls.py; here
# configs/benchmarks/linear_eval/resnet50_mocov3-linear-8xb128-coslr-90e_imagenet.py): 74.6.
_base_ = './mocov3_r50_8xb512-amp-coslr-300e_in1k.py'
optim_wrapper = dict(optimizer=dict(weight_decay=1.5e-6))
warmup_epochs = 10
max_epochs = 1000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs - warmup_epochs,
         begin=warmup_epochs, end=max_epochs, eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
# the reference's 1000-epoch recipe starts the momentum at 0.996 (--moco-m 0.996)
model = dict(momentum=dict(start=0.996, end=1.0))
