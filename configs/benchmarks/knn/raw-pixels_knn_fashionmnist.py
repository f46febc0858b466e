# The raw-pixel baseline of the Fashion-MNIST demo, with exactly the protocol of the learned
# backbones (configs/benchmarks/knn/resnet18w16-small_knn_fashionmnist.py): same bank, same
# queries, same normalisation by the data preprocessor, weighted kNN on L2-normalised vectors,
# and the same linear probe (tools/benchmarks/knn_eval.py --linear-probe). The "features" are
# the 784 normalised pixels of each image (the first channel: grayscale images are loaded as
# RGB with three equal channels). No checkpoint: run it without PRETRAIN.
_base_ = './resnet18w16-small_knn_fashionmnist.py'
model = dict(backbone=dict(_delete_=True, type='RawPixels', channels=1))
