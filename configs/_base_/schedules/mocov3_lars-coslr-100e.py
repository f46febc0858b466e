# MoCo v3 ResNet-50 schedule (moco-v3 main_moco.py defaults): LARS (momentum 0.9, trust
# coefficient 0.001, no weight decay and no adaptation for biases and BN parameters), base lr 0.6
# per 256 images (scaled linearly with the total batch by auto_scale_lr: 9.6 at batch 4096),
# weight decay 1e-6, 10 warm-up epochs then a half-cosine to 0, both per iteration; 100 epochs.
# Mixed precision (AmpOptimWrapper: fp16 with a dynamic loss scale on CUDA as the reference's
# GradScaler, bf16 on CPU).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='LARS', lr=0.6, momentum=0.9, weight_decay=1e-6),
)
warmup_epochs = 10
max_epochs = 100
param_scheduler = [
    # the reference warms up linearly from 0; mmengine's LinearLR needs a factor > 0
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs - warmup_epochs,
         begin=warmup_epochs, end=max_epochs, eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(type='ExactResumeEpochBasedTrainLoop', max_epochs=max_epochs)
# lr is per 256 images; the runner multiplies it by total batch / 256 (main_moco.py does too).
auto_scale_lr = dict(base_batch_size=256, enable=True)
