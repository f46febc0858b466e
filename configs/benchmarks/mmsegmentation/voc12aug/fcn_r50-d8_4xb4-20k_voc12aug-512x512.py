# FCN (dilated R50, output stride 8) fine-tuned on PASCAL VOC 2012 train_aug, evaluated on
# VOC 2012 val (mIoU): the MoCo VOC semantic segmentation transfer, on mmseg's 512x512 20k
# recipe (16 images per batch, SyncBN trained everywhere, torchvision input normalization).
# Run it through tools/benchmarks/downstream_train.sh, which fills in the pretrained file.
# Changed for MoCo: the backbone is the plain (torchvision) ResNet, started from our weights,
# instead of mmseg's deep-stem ResNetV1c from open-mmlab's ImageNet model.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    pretrained=None,
    backbone=dict(type='ResNet', init_cfg=dict(type='Pretrained', checkpoint=None)))
