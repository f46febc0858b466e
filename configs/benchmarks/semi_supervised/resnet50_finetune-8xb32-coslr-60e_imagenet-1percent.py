# Semi-supervised fine-tuning on 1% of ImageNet-1k labels (about 13 images per class), with
# SimCLR's protocol (Chen et al. 2020a, App. B.5): the whole network is fine-tuned, Nesterov
# SGD, no weight decay, random crops and flips only, 60 epochs; lr 0.05 for batch 256 (their
# 0.8 for 4096, scaled linearly). The subset list comes from
#   python tools/dataset_converters/make_semi_supervised_subsets.py data/imagenet --percents 1 10
_base_ = '../linear_eval/resnet50_linear-8xb32-steplr-100e_imagenet.py'
model = dict(freeze_backbone=False)
train_dataloader = dict(dataset=dict(ann_file='meta/train_1percent.txt'))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=60, begin=0, end=60,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=60, val_interval=10)
