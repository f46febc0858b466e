# The Fashion-MNIST demo recipe with the online kNN monitor: every 10 epochs (and after the
# last) KNNEvalHook measures weighted kNN top-1/top-5 (k = 20 and 200, T = 0.07) of the query
# backbone's frozen features, the 3000-image train split as the bank and the 2000-image test
# split as queries (about 15 s each time on 2 CPU cores). The accuracies appear in the log
# ("kNN after epoch 10 ..."), in vis_data/scalars.json as knn/top1_k20, knn/top5_k20,
# knn/top1_k200, knn/top5_k200 (tools/analysis_tools/analyze_logs.py plot_curve), and in
# TensorBoard when it is enabled (configs/_base_/tensorboard.py).
# Another data root: override it for the training set and for both kNN loaders, e.g.
#   --cfg-options train_dataloader.dataset.data_root=DIR \
#     custom_hooks.2.bank_dataloader.dataset.data_root=DIR \
#     custom_hooks.2.query_dataloader.dataset.data_root=DIR
_base_ = './mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py'

data_root = 'data/fashion_mnist/'
_knn_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
_knn_loader = dict(
    batch_size=256,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
)

# custom_hooks is a list, and a list in a config REPLACES the inherited one (mmengine merges
# dicts key by key, never lists). Adding only KNNEvalHook would silently drop the two hooks
# of the base recipe: MomentumUpdateHook (without it the key encoder never moves: the loss
# still looks healthy but the representation stops improving) and RandomStateHook (exact
# resume). So the list below is complete: the base recipe's two hooks, then the monitor.
custom_hooks = [
    dict(type='MomentumUpdateHook', momentum=0.99),
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
