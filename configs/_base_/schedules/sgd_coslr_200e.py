# MoCo v2 schedule: the MoCo v1 optimizer with a cosine learning rate over 200 epochs.
_base_ = './sgd_steplr_200e.py'
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=200, begin=0, end=200, eta_min=0.0,
         convert_to_iter_based=True),
]
