"""kNN evaluation hook on real Fashion-MNIST images with a small MoCo model."""
import random
from types import SimpleNamespace
from typing import List

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from conftest import fashion_mnist_slice
from mmmoco.engine.hooks.knn_eval_hook import KNNEvalHook
from mmmoco.evaluation import extract_features, knn_class_scores, topk_accuracy
from mmmoco.registry import HOOKS, MODELS

SCALARS = ('knn/top1_k20', 'knn/top5_k20', 'knn/top1_k200', 'knn/top5_k200')


@pytest.fixture(scope='module')
def fashion_mnist(tmp_path_factory) -> str:
    """Fashion-MNIST slices: 4 train (bank) and 2 val (query) images per class.

    Returns:
        The ImageNet-style dataset root.
    """
    return fashion_mnist_slice(str(tmp_path_factory.mktemp('fashion_mnist')), 4, 2)


def loader_cfg(root: str, split: str) -> dict:
    """A single-view, unshuffled evaluation loader of one split."""
    return dict(batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='pseudo_collate'),
                dataset=dict(type='ImageFolderDataset', data_root=root,
                             ann_file=f'meta/{split}.txt', data_prefix='',
                             pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))


def small_moco():
    """A MoCo with a small-stem ResNet-18, in training mode."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MoCo', backbone=dict(type='ResNet', depth=18, small_stem=True),
        neck=dict(type='MLPNeck', in_channels=512, hidden_channels=64, out_channels=16),
        queue=dict(type='KeyQueue', feat_dim=16, queue_len=32),
        head=dict(type='ContrastiveHead')))
    model.init_weights()
    return model.train()


def fake_runner(model, epoch: int = 0, iteration: int = 0, max_epochs: int = 3,
                max_iters: int = 30) -> SimpleNamespace:
    """The runner attributes the hook uses; records scalars, visualizer calls, log lines and
    loader builds."""
    runner = SimpleNamespace(model=model, epoch=epoch, iter=iteration, max_epochs=max_epochs,
                             max_iters=max_iters, seed=0, scalars={}, lines=[], built=[],
                             visualized=[])

    def build_dataloader(cfg: dict, seed: int):
        runner.built.append(cfg)
        return Runner.build_dataloader(cfg, seed=seed)

    runner.build_dataloader = build_dataloader
    runner.message_hub = SimpleNamespace(
        update_scalar=lambda name, value: runner.scalars.setdefault(name, []).append(value))
    runner.logger = SimpleNamespace(info=runner.lines.append)
    runner.visualizer = SimpleNamespace(
        add_scalars=lambda scalars, step: runner.visualized.append((dict(scalars), step)))
    return runner


def make_hook(root: str, **kwargs) -> KNNEvalHook:
    """A kNN hook over the train (bank) and val (query) slices, built through HOOKS."""
    return HOOKS.build(dict(type='KNNEvalHook', bank_dataloader=loader_cfg(root, 'train'),
                            query_dataloader=loader_cfg(root, 'val'), **kwargs))


@pytest.mark.parametrize('kwargs, name', [(dict(interval=0), 'interval'), (dict(k=()), 'k'),
                                          (dict(temperature=0.0), 'temperature')])
def test_config_errors_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf'\b{name}\b'):
        KNNEvalHook(bank_dataloader={}, query_dataloader={}, **kwargs)


def evaluated_epochs(hook: KNNEvalHook, runner: SimpleNamespace) -> List[int]:
    """Run the hook after each iteration and epoch of training; the epochs that evaluated."""
    done = []
    for epoch in range(runner.max_epochs):
        runner.epoch = epoch
        lines = len(runner.lines)
        hook.after_train_iter(runner, 0)
        hook.after_train_epoch(runner)
        if len(runner.lines) > lines:
            done.append(epoch)
    return done


def test_runs_every_interval_epochs_and_after_the_last(fashion_mnist):
    runner = fake_runner(small_moco(), max_epochs=3)
    hook = make_hook(fashion_mnist, interval=2)
    assert evaluated_epochs(hook, runner) == [1, 2]
    assert all(len(runner.scalars[name]) == 2 for name in SCALARS)
    assert len(runner.built) == 2  # bank and query loaders are built once
    assert runner.lines[0].startswith('kNN after epoch 2 (40 bank, 20 queries, T=0.07)')


def test_by_iteration_counts_iterations(fashion_mnist):
    runner = fake_runner(small_moco(), max_epochs=1, max_iters=5)
    hook = make_hook(fashion_mnist, interval=3, k=(20, ), by_epoch=False)
    assert evaluated_epochs(hook, runner) == []  # no evaluation at epoch ends
    for iteration in range(4):  # the last iteration is due too; the epoch test covers that
        runner.iter = iteration
        hook.after_train_iter(runner, iteration)
    assert [line.split(' (')[0] for line in runner.lines] == ['kNN after iter 3']
    # to the vis backends at the step of the loss curves (iterations done), without an epoch
    [(scalars, step)] = runner.visualized
    assert step == 3 and set(scalars) == {'knn/top1_k20', 'knn/top5_k20'}


def test_epoch_results_reach_the_visualizer_at_the_iteration_count(fashion_mnist):
    runner = fake_runner(small_moco(), epoch=1, iteration=40, max_epochs=2)
    make_hook(fashion_mnist, interval=1).after_train_epoch(runner)
    [(scalars, step)] = runner.visualized
    assert step == 40 and scalars.pop('epoch') == 2
    assert scalars == {name: runner.scalars[name][0] for name in SCALARS}


def test_matches_direct_knn_and_leaves_training_state(fashion_mnist):
    model = small_moco()
    modes = {name: module.training for name, module in model.named_modules()}
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    runner = fake_runner(model, epoch=2, max_epochs=3)
    make_hook(fashion_mnist, interval=10).after_train_epoch(runner)

    assert (random.getstate(), torch.get_rng_state().tolist()) == (rng[0], rng[2].tolist())
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), rng[1]))
    assert {name: module.training for name, module in model.named_modules()} == modes
    assert all(torch.equal(value, weights[key]) for key, value in model.state_dict().items())
    values = {name: runner.scalars[name][0] for name in SCALARS}
    assert all(0.0 <= value <= 100.0 for value in values.values())
    assert values['knn/top5_k20'] >= values['knn/top1_k20']

    model.backbone.eval()
    bank, query = (extract_features(model.backbone, model.data_preprocessor,
                                    Runner.build_dataloader(loader_cfg(fashion_mnist, split),
                                                            seed=0))
                   for split in ('train', 'val'))
    # a bare extraction draws from torch's generator: the hook's restore is what kept it
    assert not torch.equal(torch.get_rng_state(), rng[2])
    scores = knn_class_scores(query[0], bank[0], bank[1], num_classes=10, k=20,
                              temperature=0.07)
    assert values['knn/top1_k20'] == topk_accuracy(scores, query[1], topk=(1, ))['top1']
