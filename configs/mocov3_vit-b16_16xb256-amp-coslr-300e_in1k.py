# MoCo v3, ViT-Base/16, 16 devices x 256 images (batch 4096), 300 epochs on ImageNet-1k, mixed
# precision. Reproduces moco-v3 CONFIG.md "ViT-Base, 8-node (64-GPU) pre-training":
#   python main_moco.py -a vit_base --optimizer=adamw --lr=1.5e-4 --weight-decay=.1
#     --epochs=300 --warmup-epochs=40 --stop-grad-conv1 --moco-m-cos --moco-t=.2
#     --dist-url 'tcp://[first node]:[port]' --multiprocessing-distributed --world-size 8
#     --rank 0 [imagenet-folder]
# (-b 4096, --moco-m .99 cosine to 1, --crop-min .08 are main_moco.py's defaults.)
# Published linear top-1 (main_lincls.py -a vit_base --lr=3; here
# configs/benchmarks/linear_eval/vit-b16_linear-8xb128-coslr-90e_imagenet.py): 76.7.
_base_ = './mocov3_vit-s16_16xb256-amp-coslr-300e_in1k.py'
model = dict(
    backbone=dict(arch=dict(embed_dims=768, depth=12, num_heads=12)),  # ViT-Base
    neck=dict(in_channels=768),
)
