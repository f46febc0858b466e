# Mask R-CNN R50-FPN fine-tuned on COCO train2017, evaluated on val2017 (bbox and mask AP), 1x
# schedule (12 epochs, 16 images per batch): the MoCo COCO protocol. Run it through
# tools/benchmarks/downstream_train.sh, which fills in the pretrained file.
# Changed from mmdet's R50-FPN 1x recipe for MoCo:
# - backbone from our weights, nothing frozen, SyncBN trained (norm_eval=False);
# - SyncBN also in the newly initialized layers: FPN, a 4conv1fc box head and the mask head
#   (as detectron2's SyncBN Mask R-CNN baseline);
# - training at shorter side 640-800 (step 32); testing at 800 as in mmdet.
# mmdet's R50-FPN input normalization already is torchvision's (RGB, ImageNet mean/std).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=None)),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

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
