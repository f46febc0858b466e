# MoCo v3 (Chen, Xie, He 2021), ResNet-50 (moco-v3 moco/builder.py MoCo_ResNet): the torchvision
# ResNet-50 with zero-initialised residual BNs, a 2-layer projector 2048-4096-256 and a 2-layer
# predictor 256-4096-256 (Linear without bias, BN, ReLU; the projector ends with a BN without
# affine, the predictor with no BN), tau 1.0, loss scaled by 2 * tau, keys of the whole batch
# (no queue). The reference turns every BN of the model into SyncBN under DDP; single-process
# CPU runs use plain BN.
model = dict(
    type='MoCoV3',
    # momentum from 0.99 to 1 along a half-cosine per step (moco-v3 --moco-m 0.99 --moco-m-cos)
    momentum=dict(start=0.99, end=1.0),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=(123.675, 116.28, 103.53),
                           std=(58.395, 57.12, 57.375)),
    backbone=dict(type='ResNet', depth=50, out_indices=(3, ), norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=True),
    neck=dict(type='MLPNeck', in_channels=2048, hidden_channels=4096, out_channels=256,
              num_layers=2, norm_cfg=dict(type='SyncBN'),
              last_norm_cfg=dict(type='SyncBN', affine=False)),
    predictor=dict(type='MLPNeck', in_channels=256, hidden_channels=4096, out_channels=256,
                   num_layers=2, norm_cfg=dict(type='SyncBN'), last_norm_cfg=None),
    head=dict(type='ContrastiveHead', temperature=1.0),
)
