# MoCo v3 on Fashion-MNIST on one device, sized for 2 CPU cores: the v3 counterpart of
# mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py, with the same backbone (ResNet-18, small
# image stem, width 16: 128-d features), data (3000 train images, 28 px, crops of 40-100%) and
# optimiser (SGD lr 0.06 per 128 images, weight decay 5e-4, cosine), so that the two recipes
# differ by the algorithm only and share the kNN / linear benchmark configs:
#   configs/benchmarks/knn/resnet18w16-small_knn_fashionmnist.py
#   configs/benchmarks/linear_eval/resnet18w16-small_linear-1xb256-coslr-10e_fashionmnist.py
# What is MoCo v3 here (moco-v3 main_moco.py / moco/builder.py MoCo_ResNet, scaled down):
# in-batch keys without a queue, a 2-layer projector 128-512-128 ending in a BN without affine
# and a 2-layer predictor 128-512-128 (BN and ReLU in the hidden layers, Linear without bias),
# the symmetric loss scaled by 2 * tau, the asymmetric BYOL augmentation (blur p 1.0 / 0.1,
# solarization p 0.0 / 0.2), momentum 0.99 rising to 1 along a half-cosine, linear warm-up.
# Not measured choices (no long run was made for this recipe): tau 0.2 (the reference's ViT
# value; its 1.0 goes with batch 4096), hidden width 512 (4 x the features, not 4096), 40
# epochs: a v3 step embeds both views with both encoders, about twice a v2 step, so 40 epochs
# (920 steps) cost about what the v2 recipe's 80 do.
# Prepare the data with
#   python tools/dataset_converters/prepare_fashion_mnist.py data/fashion_mnist
_base_ = [
    './_base_/models/mocov3_r50.py',
    './_base_/datasets/fashion_mnist_mocov2.py',
    './_base_/default_runtime.py',
]
model = dict(
    # one device: plain BN everywhere (SyncBN would only be reverted to BN on CPU)
    backbone=dict(depth=18, small_stem=True, base_channels=16, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=128, hidden_channels=512, out_channels=128,
              norm_cfg=dict(type='BN'), last_norm_cfg=dict(type='BN', affine=False)),
    predictor=dict(in_channels=128, hidden_channels=512, out_channels=128,
                   norm_cfg=dict(type='BN')),
    head=dict(temperature=0.2),
)

# MoCo v3's asymmetric views (moco-v3 main_moco.py augmentation1 / augmentation2) at 28 px: the
# crop scale and blur sigmas of the v2 Fashion-MNIST recipe, v3's colour jitter (0.4, 0.4, 0.2,
# 0.1) with p 0.8, blur always in view 1 and with p 0.1 in view 2, solarization only in view 2.
_view_pipeline1 = [
    dict(type='RandomResizedCrop', size=28, scale=(0.4, 1.0)),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='GaussianBlur', sigma=(0.1, 0.5), prob=1.0),
    dict(type='Solarize', threshold=128, prob=0.0),
    dict(type='RandomFlip', prob=0.5),
]
_view_pipeline2 = [
    dict(type='RandomResizedCrop', size=28, scale=(0.4, 1.0)),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='GaussianBlur', sigma=(0.1, 0.5), prob=0.1),
    dict(type='Solarize', threshold=128, prob=0.2),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[_view_pipeline1, _view_pipeline2]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.06, momentum=0.9, weight_decay=5e-4),
)
warmup_epochs = 2
max_epochs = 40
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs - warmup_epochs,
         begin=warmup_epochs, end=max_epochs, eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=max_epochs)
# lr is per 128 images (the recipe's batch); another batch size scales it linearly
auto_scale_lr = dict(base_batch_size=128, enable=True)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2), logger=dict(interval=20))
