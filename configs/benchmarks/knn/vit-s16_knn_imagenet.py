# Weighted kNN on ImageNet-1k with frozen MoCo v3 ViT-Small/16 features: the class token after
# the final LayerNorm (out_type='cls_token', the feature main_lincls.py's linear head reads),
# k 20 and 200, T 0.07, resize 256 + center crop 224 as resnet50_knn_imagenet.py. For ViT-Base:
#   --cfg-options model.backbone.arch=base
# Run: tools/benchmarks/knn_eval.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = './resnet50_knn_imagenet.py'
model = dict(
    backbone=dict(_delete_=True, type='VisionTransformer', arch='small', img_size=224,
                  patch_size=16, out_type='cls_token'),
)
