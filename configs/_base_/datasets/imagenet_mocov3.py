# ImageNet-1k, MoCo v3 augmentation (BYOL's asymmetric recipe, moco-v3 main_moco.py): two views
# with different pipelines. Both: RandomResizedCrop(224, scale 0.08-1), ColorJitter(0.4, 0.4,
# 0.2, 0.1) with p=0.8, RandomGrayscale(0.2), horizontal flip; view 1: GaussianBlur(sigma
# 0.1-2) always, no solarization; view 2: GaussianBlur with p=0.1, Solarize(128) with p=0.2.
# Crops of 8-100% are main_moco.py's default (--crop-min=.08, the ViT recipes); the ResNet-50
# recipes use imagenet_mocov3_r50.py (crops of 20-100%).
_base_ = './imagenet_mocov1.py'

view_pipeline1 = [
    dict(type='RandomResizedCrop', size=224, scale=(0.08, 1.0)),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='GaussianBlur', sigma=(0.1, 2.0), prob=1.0),
    dict(type='Solarize', threshold=128, prob=0.0),
    dict(type='RandomFlip', prob=0.5),
]
view_pipeline2 = [
    dict(type='RandomResizedCrop', size=224, scale=(0.08, 1.0)),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2),
    dict(type='GaussianBlur', sigma=(0.1, 2.0), prob=0.1),
    dict(type='Solarize', threshold=128, prob=0.2),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
