# ImageNet-1k, MoCo v3 augmentation for the ResNet-50 recipes: imagenet_mocov3.py with crops of
# 20-100% (--crop-min=.2 in every ResNet-50 command of moco-v3's CONFIG.md).
_base_ = './imagenet_mocov3.py'

view_pipeline1 = [dict(_base_.view_pipeline1[0], scale=(0.2, 1.0)), *_base_.view_pipeline1[1:]]
view_pipeline2 = [dict(_base_.view_pipeline2[0], scale=(0.2, 1.0)), *_base_.view_pipeline2[1:]]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
