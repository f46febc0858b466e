"""Issue 9, item 3: NaN and Inf are refused at build time where they are settings, and stop
training (naming the iteration) where they appear, before a checkpoint of broken weights is
written or a good one rotated out. (``optim_wrapper.optimizer.lr=inf`` / ``nan`` through
tools/train.py: test_config_checks.py.)

Before the fix ``temperature=nan`` / ``inf`` or ``lr=inf`` trained to the end with rc 0 and
wrote non-finite checkpoints; resuming a good run with ``max_keep_ckpts=2`` and a setting that
diverges rotated the good checkpoints out.
"""
import hashlib
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from mmmoco.engine.runner import NonFiniteError
from mmmoco.registry import MODELS
from tiny_run import RECIPE, build_runner, tiny_config, tiny_images, trained_run  # noqa: F401


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -1.0, 'hot'])
def test_non_finite_temperature_is_refused_at_build(value):
    cfg = Config.fromfile(RECIPE)
    cfg.model.head.temperature = value
    with pytest.raises((TypeError, ValueError), match='head temperature must be'):
        MODELS.build(cfg.model)


def test_infinite_lr_stops_at_the_first_non_finite_loss_and_saves_nothing(tiny_images,
                                                                         tmp_path):
    """lr=inf (the runner built directly, past tools/train.py's config check): the first step
    makes the weights non-finite, the loss of iteration 2 is NaN."""
    runner = build_runner(tiny_config(tiny_images, str(tmp_path), epochs=1,
                                      **{'optim_wrapper.optimizer.lr': float('inf')}))
    with pytest.raises(NonFiniteError, match=r'non-finite loss.* at iteration 2 \(epoch 1, '
                                             r'batch 2\): training stopped before saving'):
        runner.train()
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.pth')]


def test_non_finite_weights_are_never_saved(tiny_images, tmp_path):
    """With a checkpoint after every iteration, the check before saving catches the weights
    that iteration 1 made non-finite: no iter_1.pth is written."""
    cfg = tiny_config(tiny_images, str(tmp_path), epochs=1,
                      **{'optim_wrapper.optimizer.lr': float('inf')})
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=1)
    runner = build_runner(cfg)
    with pytest.raises(NonFiniteError, match=r'non-finite values in .* at iteration 1, before '
                                             r'saving iter_1\.pth'):
        runner.train()
    assert not [name for name in os.listdir(tmp_path) if 'pth' in name]


class Diverge(Hook):
    """Makes one parameter NaN before iteration ``at`` (a run that diverges there)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 == self.at:
            model = getattr(runner.model, 'module', runner.model)
            with torch.no_grad():
                model.backbone.conv1.weight.fill_(float('nan'))


def _digest(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_divergence_after_resume_keeps_the_good_checkpoints(tiny_images, tmp_path_factory,
                                                            tmp_path):
    """Resume a good 2-epoch run (max_keep_ckpts=2) for 2 more epochs; it diverges at
    iteration 13. Training stops naming iteration 13 and the last checkpoint with finite
    weights (issue 17: it only said "the last checkpoint"); epoch_1.pth, epoch_2.pth and
    last_checkpoint are untouched and no epoch_3.pth exists."""
    good = trained_run(tiny_images, tmp_path_factory)
    work_dir = str(tmp_path / 'work')
    shutil.copytree(good, work_dir)
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        assert osp.isfile(osp.join(work_dir, name))
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_2.pth'))
    before = {name: _digest(osp.join(work_dir, name))
              for name in ('epoch_1.pth', 'epoch_2.pth', 'last_checkpoint')}
    cfg = tiny_config(tiny_images, work_dir, epochs=4, resume=True)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=2)
    runner = build_runner(cfg)
    runner.register_hook(Diverge(at=13))
    last = osp.join(work_dir, 'epoch_2.pth')
    with pytest.raises(NonFiniteError, match=r'(?s)at iteration 13 \(epoch 3, batch 3\).*the '
                                             rf'last checkpoint with finite weights is {last}: '
                                             rf'--resume {last}'):
        runner.train()
    assert {name: _digest(osp.join(work_dir, name)) for name in before} == before
    assert not osp.exists(osp.join(work_dir, 'epoch_3.pth'))
