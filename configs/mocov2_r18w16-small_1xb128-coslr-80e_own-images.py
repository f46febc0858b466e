# MoCo v2 on your own unlabeled images on 2 CPU cores: one command, only the data root changes
#   .venv/bin/python tools/train.py configs/mocov2_r18w16-small_1xb128-coslr-80e_own-images.py \
#     --cfg-options train_dataloader.dataset.data_root=/path/to/images
# The dataset follows from what is on disk (AutoImageFolder, one INFO line in the log says which):
# a file list meta/train.txt under the root if there is one, else class sub-folders, else every
# image in the folder and its sub-folders, unlabeled. Nothing here needs labels: the monitor is
# RankMe, the label-free effective rank of the features, every 20 steps (a kNN monitor needs a
# labelled bank and query set). The recipe is the Fashion-MNIST one
# (mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py, measured on 3000 28-px images: ResNet-18
# with the small-image stem at width 16, 28 px crops of 40-100%, queue 1024, 80 epochs, batch
# 128, so a folder needs at least 128 images). Larger images and more of them: raise the crop
# size (train_dataloader.dataset.pipeline.1.transforms.0.size=64) and the queue
# (model.queue.queue_len=4096). Embed the images afterwards with mmmoco.apis (README).
_base_ = './mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py'
train_dataloader = dict(dataset=dict(data_root='data/my_images/'))
custom_hooks = [dict(type='RankMeHook', interval=20)]
