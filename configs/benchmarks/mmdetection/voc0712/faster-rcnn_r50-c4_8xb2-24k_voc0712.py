# Faster R-CNN R50-C4 fine-tuned on PASCAL VOC 07+12 trainval, tested on VOC 2007 test: the
# MoCo detection protocol (facebookresearch/moco detection/configs/pascal_voc_R_50_C4_24k*.yaml).
# Run it through tools/benchmarks/downstream_train.sh, which fills in the pretrained file.
# mmdet's 18k VOC C4 recipe already trains at shorter side 480-800 (step 32) and tests at 800,
# with 16 images per batch (8 GPUs x 2), lr 0.02 and 100 warm-up iterations. Changed for MoCo:
# - backbone and res5 head start from our weights (torchvision layout: pytorch style), nothing
#   frozen, SyncBN trained everywhere, an extra norm layer after res5 (Res5ROIHeadsExtraNorm);
# - torchvision input normalization (RGB, ImageNet mean/std);
# - 24k iterations, lr x0.1 at 18k and 22k;
# - AP over IoU 0.50:0.05:0.95 (reported as pascal_voc/mAP), AP50 and AP75, with 11-point
#   VOC07 AP per threshold, as detectron2's PASCAL VOC evaluator computes them on VOC07 test.
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        style='pytorch',
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=None)),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=False,
            init_cfg=dict(type='Pretrained', checkpoint=None))))

# VOC2007 and VOC2012 datasets carry different `dataset_type` metainfo.
train_dataloader = dict(dataset=dict(ignore_keys=['dataset_type']))

max_iters = 24000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[18000, 22000],
        gamma=0.1)
]

val_evaluator = dict(
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95], eval_mode='11points')
test_evaluator = val_evaluator
