# The Fashion-MNIST MoCo v2 recipe with the online kNN monitor of
# configs/_base_/fashion_mnist_knn_monitor.py (kNN top-1 every 10 epochs in the log, in
# vis_data/scalars.json and in TensorBoard when enabled).
# Another data root: override it for the training set and for both kNN loaders, e.g.
#   --cfg-options train_dataloader.dataset.data_root=DIR \
#     custom_hooks.2.bank_dataloader.dataset.data_root=DIR \
#     custom_hooks.2.query_dataloader.dataset.data_root=DIR
_base_ = [
    './mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py',
    './_base_/fashion_mnist_knn_monitor.py',
]

# the base recipe's two hooks (a list replaces the inherited one), then the monitor
custom_hooks = [
    dict(type='MomentumUpdateHook', momentum=0.99),
    dict(type='RandomStateHook'),
    {{_base_._knn_monitor}},
]
