# MoCo v3 linear classification on ImageNet-1k, ResNet-50 (moco-v3 main_lincls.py, CONFIG.md
# "ResNet-50, linear classification":
#   python main_lincls.py --dist-url 'tcp://localhost:10001' --multiprocessing-distributed
#     --world-size 1 --rank 0 --pretrained [checkpoint] [imagenet-folder]
# i.e. its defaults): frozen backbone (BN in eval mode), global-average-pooled res5 features, one
# fc layer (normal init, std 0.01); SGD base lr 0.1 per 256 images (0.4 at batch 1024 = 8 x 128,
# scaled by auto_scale_lr), momentum 0.9, weight decay 0, 90 epochs, cosine per epoch to 0;
# RandomResizedCrop(224, 8-100%) + flip, val resize 256 + center crop 224.
# Published top-1 after the 100 / 300 / 1000-epoch MoCo v3 recipes: 68.9 / 72.8 / 74.6.
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
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0),
)
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=90, begin=0, end=90, eta_min=0.0),
]
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2, save_best='auto'))
# lr is per 256 images; the runner multiplies it by total batch / 256 (main_lincls.py does too).
auto_scale_lr = dict(base_batch_size=256, enable=True)
