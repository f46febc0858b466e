# ImageNet-1k classification loaders for evaluation protocols: RandomResizedCrop(224) + flip
# for training; resize 256 + center crop 224 for validation.
# Layout (docs/data.md): data/imagenet/{train,val}/<wnid>/*.JPEG, read as class folders.
# Optional file lists: ann_file='meta/train.txt' / 'meta/val.txt' (lines "<wnid>/<file> <label>",
# relative to train/ or val/), written by tools/dataset_converters/make_imagenet_lists.py.
dataset_type = 'ImageFolderDataset'
data_root = 'data/imagenet/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=224, scale=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', size=256),
    dict(type='CenterCrop', size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=False,
    drop_last=False,
    worker_init_fn=dict(type='mmmoco.worker_init_from_torch_seed'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                 data_prefix='val', pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
