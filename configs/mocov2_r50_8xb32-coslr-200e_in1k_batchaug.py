# MoCo v2, ResNet-50, 8 GPUs x 32 images, with on-device batched augmentation: the data loader
# workers only decode, crop and flip (uint8); colour jitter, grayscale and blur run on each
# GPU's batch inside the data preprocessor, one independent draw per sample, with the
# parameters, probabilities and order of operations of
# configs/mocov2_r50_8xb32-coslr-200e_in1k.py (the flip commutes with them). The draws are
# checkpointed (data_preprocessor.batch_augment_state), so resume stays exact. For servers
# whose CPUs cannot keep up with the GPUs (docs/benchmarks.md).
_base_ = './mocov2_r50_8xb32-coslr-200e_in1k.py'

view_pipeline = [
    dict(type='RandomResizedCrop', size=224, scale=(0.2, 1.0)),
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
        dict(type='BatchGaussianBlur', sigma=(0.1, 2.0), prob=0.5),
    ]))
# a fixed input size: let cuDNN pick its fastest kernels once
env_cfg = dict(cudnn_benchmark=True)
