# Opt-in TensorBoard logging: add this file to a recipe's _base_ list, e.g. a config
#   _base_ = ['./mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py', './_base_/tensorboard.py']
# Every scalar (loss, lr, momentum, contrastive accuracy, KNNEvalHook's knn/* accuracies, val
# metrics) then goes both to WORK_DIR/<timestamp>/vis_data/scalars.json (as without this file)
# and to TensorBoard event files in the same folder: tensorboard --logdir WORK_DIR
# Needs the tensorboard package (requirements/optional.txt; tools/install/setup_env.sh
# installs it).
visualizer = dict(
    type='Visualizer',
    vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')],
)
