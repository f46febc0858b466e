# MoCo v3 linear classification on ImageNet-1k, ViT-Small/16 (moco-v3 CONFIG.md "ViT-Small,
# linear classification":
#   python main_lincls.py -a vit_small --lr=3 --dist-url 'tcp://localhost:10001'
#     --multiprocessing-distributed --world-size 1 --rank 0 --pretrained [checkpoint]
#     [imagenet-folder]
# ): frozen ViT, the class token after the final LayerNorm, one fc layer (normal init, std
# 0.01); SGD base lr 3 per 256 images (12 at batch 1024 = 8 x 128, scaled by auto_scale_lr),
# momentum 0.9, weight decay 0, 90 epochs, cosine per epoch to 0; RandomResizedCrop(224, 8-100%)
# + flip, val resize 256 + center crop 224. Published top-1 after 300-epoch MoCo v3: 73.2.
# Run: tools/benchmarks/linear_eval.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = './resnet50_mocov3-linear-8xb128-coslr-90e_imagenet.py'
model = dict(
    backbone=dict(_delete_=True, type='VisionTransformer', arch='small', img_size=224,
                  patch_size=16, out_type='cls_token'),
    in_channels=384,
)
optim_wrapper = dict(optimizer=dict(lr=3.0))
