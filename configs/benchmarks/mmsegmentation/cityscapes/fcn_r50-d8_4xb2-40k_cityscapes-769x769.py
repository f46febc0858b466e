# FCN (dilated R50, output stride 8) fine-tuned on Cityscapes train (fine), evaluated on val
# (mIoU): the MoCo Cityscapes semantic segmentation transfer, on mmseg's 769x769 40k recipe
# (8 images per batch, SyncBN trained everywhere, torchvision input normalization). Run it
# through tools/benchmarks/downstream_train.sh, which fills in the pretrained file.
# Changed for MoCo: the backbone is the plain (torchvision) ResNet, started from our weights,
# instead of mmseg's deep-stem ResNetV1c from open-mmlab's ImageNet model.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py'

model = dict(
    pretrained=None,
    backbone=dict(type='ResNet', init_cfg=dict(type='Pretrained', checkpoint=None)))
