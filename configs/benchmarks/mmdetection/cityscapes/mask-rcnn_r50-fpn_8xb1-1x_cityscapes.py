# Mask R-CNN R50-FPN fine-tuned on Cityscapes train (fine annotations), evaluated on val
# (COCO-style bbox/mask AP and the official Cityscapes instance AP): the MoCo Cityscapes
# instance segmentation transfer. Run it through tools/benchmarks/downstream_train.sh, which
# fills in the pretrained file. mmdet's recipe (8 images per batch, 64 epochs = 8 x 8 repeats,
# shorter side 800-1024, test at 1024) is kept; changed for MoCo:
# - backbone from our weights instead of a COCO-trained detector (load_from), nothing frozen,
#   SyncBN trained (norm_eval=False);
# - SyncBN also in the newly initialized layers: FPN, a 4conv1fc box head and the mask head.
# mmdet's R50-FPN input normalization already is torchvision's (RGB, ImageNet mean/std).
_base_ = 'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        # mmdet's recipe sets init_cfg=None (it loads a COCO detector instead)
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=None)),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

load_from = None
