# Mask R-CNN R50-C4 fine-tuned on COCO train2017, evaluated on val2017 (bbox and mask AP), 1x
# schedule (12 epochs, 16 images per batch): the MoCo COCO protocol
# (facebookresearch/moco detection/configs/coco_R_50_C4_*.yaml). Run it through
# tools/benchmarks/downstream_train.sh, which fills in the pretrained file.
# Changed from mmdet's R50-C4 1x recipe for MoCo:
# - backbone and res5 head start from our weights (torchvision layout: pytorch style), nothing
#   frozen, SyncBN trained everywhere, an extra norm layer after res5 (Res5ROIHeadsExtraNorm);
# - torchvision input normalization (RGB, ImageNet mean/std);
# - training at shorter side 640-800 (step 32); testing at 800 as in mmdet.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'

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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
