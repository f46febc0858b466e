# Semi-supervised fine-tuning on 10% of ImageNet-1k labels: the 1% protocol for 30 epochs.
_base_ = './resnet50_finetune-8xb32-coslr-60e_imagenet-1percent.py'
train_dataloader = dict(dataset=dict(ann_file='meta/train_10percent.txt'))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=30, begin=0, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=5)
