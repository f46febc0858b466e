# The Fashion-MNIST MoCo v3 recipe with the online kNN monitor, as
# mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_knn-monitor.py does for v2: every 10 epochs
# (and after the last) KNNEvalHook measures weighted kNN top-1/top-5 (k = 20 and 200, T = 0.07)
# of the query backbone's frozen features, the 3000-image train split as the bank and the
# 2000-image test split as queries; the results go to the log and to knn/top1_k20 etc. in
# vis_data/scalars.json. Another data root: override it for the training set and for both kNN
# loaders (custom_hooks.2.bank_dataloader.dataset.data_root=DIR, and query_dataloader's).
_base_ = './mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist.py'

data_root = 'data/fashion_mnist/'
_knn_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
_knn_loader = dict(
    batch_size=256,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
)

# A list in a config replaces the inherited one, so the base recipe's two hooks (the momentum
# schedule and exact resume) are repeated before the monitor.
custom_hooks = [
    dict(type='MomentumUpdateHook', momentum=0.99, end_momentum=1.0),
    dict(type='RandomStateHook'),
    dict(
        type='KNNEvalHook',
        interval=10,
        k=(20, 200),
        temperature=0.07,
        bank_dataloader=dict(
            **_knn_loader,
            dataset=dict(type='ImageFolderDataset', data_root=data_root,
                         ann_file='meta/train.txt', data_prefix='', pipeline=_knn_pipeline)),
        query_dataloader=dict(
            **_knn_loader,
            dataset=dict(type='ImageFolderDataset', data_root=data_root,
                         ann_file='meta/val.txt', data_prefix='', pipeline=_knn_pipeline)),
    ),
]
