# Opt-in MLflow logging: add this file to a recipe's _base_ list, e.g. a config
#   _base_ = ['./mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist.py', './_base_/mlflow.py']
# Every scalar (loss, lr, momentum, contrastive accuracy, knn/* accuracies, val metrics) then
# goes both to WORK_DIR/<timestamp>/vis_data/scalars.json (as without this file) and to an
# MLflow run of the experiment 'mmmoco' (the config's keys as its parameters, the config and the
# run's logs as artifacts). Where: the MLFLOW_TRACKING_URI environment variable when it is set
# (a tracking server http://HOST:5000, a database, a file:// store), else the SQLite database
# work_dirs/mlflow.db under the current directory, for every run started there (view it with
# mlflow ui --backend-store-uri sqlite:///work_dirs/mlflow.db). MLflow 3 refuses file:// stores
# unless MLFLOW_ALLOW_FILE_STORE=true. Needs the mlflow package: pip install mlflow (or the
# checkout's extra: pip install '.[mlflow]'; tools/install/setup_env.sh installs it); without
# it, training stops at start-up saying so.
visualizer = dict(
    type='Visualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
        dict(type='MLflowVisBackend', exp_name='mmmoco',
             tracking_uri='{{$MLFLOW_TRACKING_URI:sqlite:///work_dirs/mlflow.db}}',
             # artifacts: the config and the logs (not the .yaml files of a file store)
             artifact_suffix=('.json', '.log', '.py')),
    ],
)
