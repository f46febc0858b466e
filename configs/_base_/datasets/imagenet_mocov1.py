# ImageNet-1k, MoCo v1 augmentation: two views of RandomResizedCrop(224, scale 0.2-1),
# RandomGrayscale(0.2), ColorJitter(0.4, 0.4, 0.4, 0.4), horizontal flip.
# Layout (docs/data.md): data/imagenet/train/<wnid>/*.JPEG (class folders; labels are unused);
# a file list instead: train_dataloader.dataset.ann_file='meta/train.txt' (paths relative to
# train/). AutoImageFolder reads the file list when it exists, else class folders, else every
# image below the folder as unlabeled: any folder of images works by changing only its root.
dataset_type = 'AutoImageFolder'
data_root = 'data/imagenet/'

view_pipeline = [
    dict(type='RandomResizedCrop', size=224, scale=(0.2, 1.0)),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4, prob=1.0),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=view_pipeline),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    # Workers live for the whole run (no start-up cost per epoch). Each sample is augmented
    # from its own seed (run seed, epoch, rank, position: mmmoco.SampleSeedSampler, added by
    # the train loop), so the views do not depend on the worker and resume stays exact.
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    worker_init_fn=dict(type='mmmoco.worker_init_from_torch_seed'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline),
)
