# MoCo v1 schedule: SGD lr 0.03 (batch 256), momentum 0.9, wd 1e-4, 200 epochs,
# lr x0.1 at epochs 120 and 160.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4),
)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[120, 160], gamma=0.1),
]
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=200)
# lr 0.03 is for a total batch of 256 (8 GPUs x 32); --auto-scale-lr rescales it linearly.
auto_scale_lr = dict(base_batch_size=256, enable=False)
