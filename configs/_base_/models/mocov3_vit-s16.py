# MoCo v3 (Chen, Xie, He 2021), ViT-Small/16 (moco-v3 vits.py vit_small and moco/builder.py
# MoCo_ViT): 384 wide, 12 blocks, 12 heads, fixed 2-D sin-cos position embedding, frozen random
# patch projection (--stop-grad-conv1); a 3-layer projector 384-4096-4096-256 and a 2-layer
# predictor 256-4096-256 (Linear without bias, BN, ReLU; both end with a BN without affine:
# MoCo_ViT builds its predictor with the default last_bn=True), tau 0.2, loss scaled by 2 * tau.
model = dict(
    type='MoCoV3',
    # momentum from 0.99 to 1 along a half-cosine per step (moco-v3 --moco-m 0.99 --moco-m-cos)
    momentum=dict(start=0.99, end=1.0),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=(123.675, 116.28, 103.53),
                           std=(58.395, 57.12, 57.375)),
    # arch as a dict (ViT-Small, the same as arch='small') so that --cfg-options can shrink it:
    # model.backbone.arch.depth=2 model.backbone.arch.embed_dims=64 ...
    backbone=dict(type='VisionTransformer', arch=dict(embed_dims=384, depth=12, num_heads=12),
                  img_size=224, patch_size=16, out_type='cls_token', freeze_patch_embed=True),
    neck=dict(type='MLPNeck', in_channels=384, hidden_channels=4096, out_channels=256,
              num_layers=3, norm_cfg=dict(type='SyncBN'),
              last_norm_cfg=dict(type='SyncBN', affine=False)),
    predictor=dict(type='MLPNeck', in_channels=256, hidden_channels=4096, out_channels=256,
                   num_layers=2, norm_cfg=dict(type='SyncBN'),
                   last_norm_cfg=dict(type='SyncBN', affine=False)),
    head=dict(type='ContrastiveHead', temperature=0.2),
)
