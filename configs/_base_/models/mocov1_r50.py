# MoCo v1 (He et al. 2020): ResNet-50, linear 128-d projection, tau 0.07, K 65536.
model = dict(
    type='MoCo',
    # the key encoder's momentum m (He et al. 2020: 0.999, constant)
    momentum=dict(start=0.999),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=(123.675, 116.28, 103.53),
                           std=(58.395, 57.12, 57.375)),
    backbone=dict(type='ResNet', depth=50, out_indices=(3, ), norm_cfg=dict(type='BN')),
    neck=dict(type='LinearNeck', in_channels=2048, out_channels=128),
    queue=dict(type='KeyQueue', feat_dim=128, queue_len=65536),
    head=dict(type='ContrastiveHead', temperature=0.07),
    shuffle_bn=True,
    single_device_bn_splits=8,
)
