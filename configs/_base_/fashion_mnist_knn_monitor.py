# The online kNN monitor of the Fashion-MNIST recipes: KNNEvalHook measures weighted kNN
# top-1/top-5 (k = 20 and 200, T = 0.07) of the query backbone's frozen features every 10
# epochs (and after the last), with the 3000-image train split as the bank and the 2000-image
# test split as queries (about 15 s each time on 2 CPU cores). The accuracies go to the log
# ("kNN after epoch 10 ..."), to vis_data/scalars.json as knn/top1_k20, knn/top5_k20,
# knn/top1_k200, knn/top5_k200 (tools/analysis_tools/analyze_logs.py plot_curve), and to
# TensorBoard when it is enabled (configs/_base_/tensorboard.py).
# A recipe adds `{{_base_._knn_monitor}}` to its custom_hooks (a list replaces the inherited
# one; the momentum and random-state hooks are default_hooks, so nothing else needs repeating).
_knn_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
_knn_loader = dict(
    batch_size=256,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
)
_knn_bank = dict(
    **_knn_loader,
    dataset=dict(type='ImageFolderDataset', data_root='data/fashion_mnist/',
                 ann_file='meta/train.txt', data_prefix='', pipeline=_knn_pipeline))
_knn_query = dict(
    **_knn_loader,
    dataset=dict(type='ImageFolderDataset', data_root='data/fashion_mnist/',
                 ann_file='meta/val.txt', data_prefix='', pipeline=_knn_pipeline))
# another interval: dict(type='KNNEvalHook', interval=N, k=(20, 200), temperature=0.07,
# bank_dataloader={{_base_._knn_bank}}, query_dataloader={{_base_._knn_query}})
_knn_monitor = dict(type='KNNEvalHook', interval=10, k=(20, 200), temperature=0.07,
                    bank_dataloader=_knn_bank, query_dataloader=_knn_query)
