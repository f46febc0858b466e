# The Fashion-MNIST MoCo v2 recipe with the online kNN monitor of
# configs/_base_/fashion_mnist_knn_monitor.py (kNN top-1 every 10 epochs in the log, in
# vis_data/scalars.json and in TensorBoard when enabled).
# Another data root: override it for the training set and for both kNN loaders, e.g.
#   --cfg-options train_dataloader.dataset.data_root=DIR \
#     custom_hooks.0.bank_dataloader.dataset.data_root=DIR \
#     custom_hooks.0.query_dataloader.dataset.data_root=DIR
_base_ = [
    './mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py',
    './_base_/fashion_mnist_knn_monitor.py',
]

custom_hooks = [{{_base_._knn_monitor}}]
