# Weighted kNN on ImageNet-1k with frozen ResNet-50 features (k 20 and 200, T 0.07),
# resize 256 + center crop 224. Data: data/imagenet/{train,val}/<wnid>/*.JPEG as class folders
# (docs/data.md); to read file lists instead, add --cfg-options
# train_dataloader.dataset.ann_file=meta/train.txt val_dataloader.dataset.ann_file=meta/val.txt
default_scope = 'mmmoco'
model = dict(
    backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
    data_preprocessor=dict(type='SelfSupDataPreprocessor'),
)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', size=256),
    dict(type='CenterCrop', size=224),
    dict(type='PackInputs'),
]
_loader = dict(
    batch_size=64,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
)
train_dataloader = dict(
    **_loader,
    dataset=dict(type='ImageFolderDataset', data_root='data/imagenet/',
                 ann_file='', data_prefix='train', pipeline=test_pipeline))
val_dataloader = dict(
    **_loader,
    dataset=dict(type='ImageFolderDataset', data_root='data/imagenet/',
                 ann_file='', data_prefix='val', pipeline=test_pipeline))
knn = dict(k=(20, 200), temperature=0.07)
