# The demo recipe with the levers that give more learning signal per step (issue: "learn more
# per minute"): the symmetric loss (both views are queries, keys of both views enter the
# queue) and multi-crop (2 small 14 px views of 10-40% of the image per sample, each scored
# against both global keys and the queue), for 70 epochs instead of 150: about the demo's
# wall time on 2 CPU cores (docs/demo_ablation.md has the per-epoch cost of each lever).
# Everything else is the demo's recipe (configs/mocov2_r18w16-small_2xb64-amp-coslr-150e_...).
_base_ = './mocov2_r18w16-small_2xb64-amp-coslr-150e_fashionmnist.py'
_epochs = 70
_global_view = [
    dict(type='RandomResizedCrop', size=28, scale=(0.4, 1.0)),
    dict(type='RandomFlip', prob=0.5),
]
_small_view = [
    dict(type='RandomResizedCrop', size=14, scale=(0.1, 0.4)),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[2, 2], transforms=[_global_view, _small_view]),
    dict(type='PackInputs'),
]))
model = dict(symmetric=True)
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=_epochs, begin=0, end=_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=_epochs)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))
custom_hooks = [
    dict(type='KNNEvalHook', interval=10, k=(20, 200), temperature=0.07,
         bank_dataloader={{_base_._knn_bank}}, query_dataloader={{_base_._knn_query}}),
    dict(type='RankMeHook', interval=115),
]
