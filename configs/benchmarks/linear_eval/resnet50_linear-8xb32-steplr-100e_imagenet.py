# MoCo v1/v2 linear classification protocol on ImageNet-1k (He et al. 2020, Sec. 4.1):
# frozen ResNet-50 (BN in eval mode), global-average-pooled res5 features, one fc layer;
# SGD lr 30, momentum 0.9, weight decay 0, batch 256 (8 x 32), 100 epochs, lr x0.1 at 60 and 80.
# Run: tools/benchmarks/linear_eval.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = [
    '../../_base_/datasets/imagenet_classification.py',
    '../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
    in_channels=2048,
    num_classes=1000,
    freeze_backbone=True,
    pretrained=None,  # set by linear_eval.sh (model.pretrained=PRETRAIN)
)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=30.0, momentum=0.9, weight_decay=0.0),
)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1),
]
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2, save_best='auto'))
auto_scale_lr = dict(base_batch_size=256, enable=False)
