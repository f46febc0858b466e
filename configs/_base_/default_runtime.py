# Runtime shared by every mmmoco recipe.
default_scope = 'mmmoco'
runner_type = 'MoCoRunner'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # writes atomically and deletes old checkpoints only after the new one is complete
    checkpoint=dict(type='AtomicCheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # moves a momentum model's key encoder after each optimizer step with the schedule the
    # model declares (model.momentum); does nothing for other models. Setting it to None is
    # refused for a momentum model (its key encoder would never move).
    momentum=dict(type='MomentumUpdateHook'),
    # makes resume exact: stores the random generators and the sampler seed
    random_state=dict(type='RandomStateHook'),
)
# a recipe's extras (e.g. the kNN monitor); a list in a child config replaces this one
custom_hooks = []

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
