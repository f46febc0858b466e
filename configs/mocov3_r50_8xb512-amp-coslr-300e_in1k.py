# MoCo v3, ResNet-50, 8 devices x 512 images (batch 4096), 300 epochs on ImageNet-1k, mixed
# precision. Reproduces moco-v3 CONFIG.md "ResNet-50, 300-epoch pre-training" (2 nodes x 8 GPUs):
#   python main_moco.py --lr=.3 --epochs=300 --moco-m-cos --crop-min=.2
#     --dist-url 'tcp://[first node]:[port]' --multiprocessing-distributed --world-size 2
#     --rank 0 [imagenet-folder]
# i.e. the 100-epoch recipe with base lr 0.3 (per 256) and 300 epochs (LARS, wd 1e-6, 10 warm-up
# epochs, m 0.99 cosine to 1, tau 1.0).
# Published linear top-1 (main_lincls.py; here
# configs/benchmarks/linear_eval/resnet50_mocov3-linear-8xb128-coslr-90e_imagenet.py): 72.8.
_base_ = './mocov3_r50_8xb512-amp-coslr-100e_in1k.py'
optim_wrapper = dict(optimizer=dict(lr=0.3))
warmup_epochs = 10
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs - warmup_epochs,
         begin=warmup_epochs, end=max_epochs, eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
