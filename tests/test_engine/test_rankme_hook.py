"""RankMeHook: label-free monitoring in a real (tiny) training run, without changing training."""
import glob
import json
import os.path as osp

import pytest
import torch

from mmmoco.engine.hooks import RankMeHook
from tiny_run import (assert_same_state, build_runner, log_text, model_state,  # noqa: F401
                      tiny_config, tiny_images)


def _scalars(work_dir: str) -> list:
    [path] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def test_rankme_is_logged_without_changing_training(tiny_images, tmp_path):
    plain = tiny_config(tiny_images, str(tmp_path / 'plain'))
    build_runner(plain).train()
    monitored = tiny_config(tiny_images, str(tmp_path / 'monitored'))
    monitored.custom_hooks = [*monitored.custom_hooks, dict(type='RankMeHook', interval=2)]
    monitored.log_level = 'INFO'
    runner = build_runner(monitored)
    records = []
    hook = next(h for h in runner.hooks if isinstance(h, RankMeHook))
    original = hook.after_train_iter

    def recording(runner_, batch_idx, data_batch=None, outputs=None):
        due = hook._handle is not None
        features = hook._features
        original(runner_, batch_idx, data_batch, outputs)
        if due:
            records.append((runner_.iter + 1, features.shape,
                            runner_.message_hub.get_scalar('train/rankme').current()))

    hook.after_train_iter = recording
    runner.train()
    # every second of the 10 iterations, on the batch of 4 images x 32 backbone channels
    assert [r[0] for r in records] == [2, 4, 6, 8, 10]
    assert all(shape == torch.Size([4, 32]) and 1.0 <= rank <= 4.0 + 1e-3
               for _, shape, rank in records)
    logged = [row['rankme'] for row in _scalars(str(tmp_path / 'monitored')) if 'rankme' in row]
    assert logged and all(1.0 <= value <= 4.0 + 1e-3 for value in logged)
    assert 'RankMe after iteration 2:' in log_text(str(tmp_path / 'monitored'))
    # recording the step's own features changes nothing in training
    assert_same_state(model_state(str(tmp_path / 'plain' / 'epoch_2.pth')),
                      model_state(str(tmp_path / 'monitored' / 'epoch_2.pth')))


def test_interval_is_checked():
    with pytest.raises(ValueError, match='RankMeHook interval'):
        RankMeHook(interval=0)
