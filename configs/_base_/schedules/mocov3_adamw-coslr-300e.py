# MoCo v3 ViT schedule (moco-v3 CONFIG.md, ViT recipes): AdamW (torch defaults betas 0.9/0.999,
# eps 1e-8, as main_moco.py builds it; weight decay on every parameter), base lr 1.5e-4 per 256
# images (scaled linearly with the total batch by auto_scale_lr: 2.4e-3 at batch 4096), weight
# decay 0.1, 40 warm-up epochs then a half-cosine to 0, both per iteration; 300 epochs. Mixed
# precision (fp16 on CUDA as the reference, bf16 on CPU).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
)
warmup_epochs = 40
max_epochs = 300
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
