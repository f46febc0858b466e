# Weighted kNN on Fashion-MNIST (train split as the bank, test split as queries) for the
# small-stem, width-16 ResNet-18 of configs/mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py.
_base_ = './resnet50_knn_imagenet.py'
model = dict(backbone=dict(depth=18, small_stem=True, base_channels=16))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=256, num_workers=2,
    dataset=dict(data_root='data/fashion_mnist/', ann_file='meta/train.txt', data_prefix='',
                 pipeline=test_pipeline))
val_dataloader = dict(
    batch_size=256, num_workers=2,
    dataset=dict(data_root='data/fashion_mnist/', ann_file='meta/val.txt', data_prefix='',
                 pipeline=test_pipeline))
