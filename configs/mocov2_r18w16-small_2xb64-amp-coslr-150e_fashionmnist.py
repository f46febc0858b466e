# The fast path: MoCo v2 on Fashion-MNIST in about 20 minutes on a 2-core CPU, with the fastest
# correct path measured there (docs/benchmarks.md, "The demo"). The main job (tools/demo.sh)
# trains its child mocov2_r18w16-small_2xb32-amp-coslr-120e_fashionmnist.py (half the batch per
# process, 120 epochs: the same wall time, more updates, 0.8 points more kNN k=20):
# - 2 processes of 1 thread under gloo DDP (`tools/dist_train.sh CONFIG 2`), batch 2 x 64:
#   real Shuffle BN across the two ranks instead of split-BN emulation, and each small
#   operator on one thread (measured 1.5x the steps per second of 1 process with 2 threads);
# - bf16 autocast (AmpOptimWrapper; fp16 on a GPU) and channels_last: the convolutions use the
#   CPU's bf16 units (AVX512-BF16 / AMX). On a CPU without them bf16 is slower than float32:
#   tools/demo.sh then trains in float32 (optim_wrapper.type=OptimWrapper);
# - colour jitter, grayscale and blur on the whole batch in the data preprocessor (the loader
#   only decodes, crops and flips), persistent loader workers (1 per process).
# Otherwise the v2 recipe of mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py (ResNet-18
# with the small stem at width 16, queue 1024, tau 0.07, lr 0.06 for 128 images, wd 5e-4,
# momentum 0.99, crops of 40-100%) for 150 epochs instead of 80. Milder crops (80-100%) learn
# faster but stop improving: online kNN top-1 (k=20) 79.40 / 79.85 / 79.95 at epochs 25 / 75 /
# 150 against 76.10 / 80.20 / ... with 40-100% (docs/demo_ablation.md).
# Online kNN monitor every 25 epochs (configs/_base_/fashion_mnist_knn_monitor.py) and RankMe,
# the label-free effective rank of the features, every 5 epochs (115 steps).
_base_ = [
    './mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_batchaug.py',
    './_base_/fashion_mnist_knn_monitor.py',
]
_epochs = 150
train_dataloader = dict(batch_size=64, num_workers=1)  # per process
model = dict(data_preprocessor=dict(channels_last=True))
optim_wrapper = dict(type='AmpOptimWrapper')
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=_epochs, begin=0, end=_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=_epochs)
default_hooks = dict(checkpoint=dict(interval=25, max_keep_ckpts=2), logger=dict(interval=20))
custom_hooks = [
    dict(type='KNNEvalHook', interval=25, k=(20, 200), temperature=0.07,
         bank_dataloader={{_base_._knn_bank}}, query_dataloader={{_base_._knn_query}}),
    # label-free monitor: effective rank of the step's own features every 5 epochs
    dict(type='RankMeHook', interval=115),
]
# lr 0.06 is for the total batch of 128 (2 x 64); --auto-scale-lr rescales it for another
auto_scale_lr = dict(base_batch_size=128)
