# Linear evaluation on Fashion-MNIST for the small-stem, width-16 ResNet-18 of
# configs/mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py: frozen backbone, one fc layer,
# random crops (scale 0.5-1) + flip for training, the full 28 px image for testing. The
# pooled features are standardised (non-affine BN in the head), so one learning rate (0.1)
# suits both a random-init and a pretrained backbone.
_base_ = './resnet50_linear-8xb32-steplr-100e_imagenet.py'
data_root = 'data/fashion_mnist/'
model = dict(backbone=dict(depth=18, small_stem=True, base_channels=16), in_channels=128,
             num_classes=10,
             feature_norm=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=28, scale=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=256, num_workers=2, pin_memory=False,
    dataset=dict(data_root=data_root, ann_file='meta/train.txt', data_prefix='',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256, num_workers=2,
    dataset=dict(data_root=data_root, ann_file='meta/val.txt', data_prefix='',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=10, begin=0, end=10,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=10, val_interval=10)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10))
auto_scale_lr = dict(base_batch_size=256)
