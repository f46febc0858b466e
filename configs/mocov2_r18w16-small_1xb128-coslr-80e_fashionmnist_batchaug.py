# The Fashion-MNIST demo recipe with on-device batched augmentation: the data loader only
# decodes, crops and flips (uint8); colour jitter, grayscale and blur run on the whole batch on
# the model's device inside the data preprocessor, with an independent draw per sample and the
# same parameters, probabilities and order of operations as the per-image pipeline of the base
# recipe (the flip commutes with them). The draws are seeded from the run's seed and the step,
# and checkpointed (data_preprocessor.batch_augment_state), so resume stays exact.
# Measured step times: docs/benchmarks.md.
_base_ = './mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py'

view_pipeline = [
    dict(type='RandomResizedCrop', size=28, scale=(0.4, 1.0)),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=view_pipeline),
    dict(type='PackInputs'),
]))
model = dict(data_preprocessor=dict(
    type='SelfSupDataPreprocessor',
    batch_augments=[
        dict(type='BatchColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
             prob=0.8),
        dict(type='BatchRandomGrayscale', prob=0.2),
        dict(type='BatchGaussianBlur', sigma=(0.1, 0.5), prob=0.5),
    ]))
# a fixed input size: let cuDNN pick its fastest kernels once
env_cfg = dict(cudnn_benchmark=True)
