# MoCo v2 on Fashion-MNIST with a ResNet-18 (3x3 stride-1 stem, no max-pool: small_stem) on
# one device: the recipe that trains on 2 CPU cores. Prepare the data with
#   python tools/dataset_converters/prepare_fashion_mnist.py data/fashion_mnist
_base_ = [
    './_base_/models/mocov2_r50.py',
    './_base_/datasets/fashion_mnist_mocov2.py',
    './_base_/schedules/sgd_coslr_200e.py',
    './_base_/default_runtime.py',
]
model = dict(
    backbone=dict(depth=18, small_stem=True),
    neck=dict(in_channels=512, hidden_channels=512),
    # a smaller dataset needs a shorter queue: 4096 keys = 32 batches of 128
    head=dict(queue_len=4096, temperature=0.2),
    # one device: Shuffle BN emulated by 4 split-BN sub-batches of 32
    single_device_bn_splits=4,
)
optim_wrapper = dict(optimizer=dict(lr=0.06, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=10, begin=0, end=10,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=10)
default_hooks = dict(checkpoint=dict(interval=5), logger=dict(interval=20))
custom_hooks = [
    dict(type='MomentumUpdateHook', momentum=0.99),
    dict(type='RandomStateHook'),
]
auto_scale_lr = dict(base_batch_size=128)
