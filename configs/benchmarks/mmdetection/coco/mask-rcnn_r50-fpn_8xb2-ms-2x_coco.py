# Mask R-CNN R50-FPN on COCO, MoCo protocol, 2x schedule (24 epochs, lr x0.1 after 16 and 22).
_base_ = './mask-rcnn_r50-fpn_8xb2-ms-1x_coco.py'

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1)
]
