# The Fashion-MNIST MoCo v3 recipe with the online kNN monitor of
# configs/_base_/fashion_mnist_knn_monitor.py, as the v2 recipe's _knn-monitor config. Another
# data root: override it for the training set and for both kNN loaders
# (custom_hooks.0.bank_dataloader.dataset.data_root=DIR, and query_dataloader's).
_base_ = [
    './mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist.py',
    './_base_/fashion_mnist_knn_monitor.py',
]

custom_hooks = [{{_base_._knn_monitor}}]
