# Opt-in Weights & Biases logging: add this file to a recipe's _base_ list, e.g. a config
#   _base_ = ['./mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py', './_base_/wandb.py']
# Every scalar (loss, lr, momentum, contrastive accuracy, knn/* accuracies, val metrics) then
# goes both to WORK_DIR/<timestamp>/vis_data/scalars.json (as without this file) and to a W&B
# run of the project 'mmmoco' whose config is the run's config. Log in once (`wandb login`), or
# run offline with WANDB_MODE=offline: the run's files go to WORK_DIR/<timestamp>/vis_data/wandb/
# (upload later with `wandb sync`). Needs the wandb package: pip install wandb (or the
# checkout's extra: pip install '.[wandb]'; tools/install/setup_env.sh installs it); without
# it, training stops at start-up saying so.
# WandbCodeRootVisBackend is mmengine's WandbVisBackend without its code artifact of every .py
# file under the current directory (mmmoco/engine/visualization/wandb_backend.py); set
# log_code_root='path/to/your/code' to log one. Other wandb.init arguments go in init_kwargs.
visualizer = dict(
    type='Visualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
        dict(type='WandbCodeRootVisBackend', init_kwargs=dict(project='mmmoco')),
    ],
)
