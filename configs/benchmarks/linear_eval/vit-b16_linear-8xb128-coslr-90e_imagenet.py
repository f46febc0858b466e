# MoCo v3 linear classification on ImageNet-1k, ViT-Base/16 (moco-v3 CONFIG.md "ViT-Base,
# linear classification":
#   python main_lincls.py -a vit_base --lr=3 --dist-url 'tcp://localhost:10001'
#     --multiprocessing-distributed --world-size 1 --rank 0 --pretrained [checkpoint]
#     [imagenet-folder]
# ): the ViT-Small protocol (vit-s16_linear-8xb128-coslr-90e_imagenet.py) with ViT-Base.
# Published top-1 after 300-epoch MoCo v3: 76.7.
# Run: tools/benchmarks/linear_eval.sh THIS_CONFIG PRETRAIN.pth 8
_base_ = './vit-s16_linear-8xb128-coslr-90e_imagenet.py'
model = dict(backbone=dict(arch='base'), in_channels=768)
