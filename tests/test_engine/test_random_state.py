"""RandomStateHook: snapshots round-trip and survive weights-only loading."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from mmmoco.engine.hooks import RandomStateHook
from mmmoco.utils import load_checkpoint_file


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_hook_saves_and_restores_generators_and_sampler_seed(tmp_path):
    hook = RandomStateHook()
    sampler = SimpleNamespace(seed=123)
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(sampler=sampler), iter=5)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    expected = _draws()
    torch.save(checkpoint, tmp_path / 'c.pth')
    loaded = load_checkpoint_file(str(tmp_path / 'c.pth'))  # weights_only=True
    _draws()
    sampler.seed = 999
    hook.after_load_checkpoint(runner, loaded)
    hook.before_train(runner)
    assert _draws() == expected and sampler.seed == 123


def test_load_from_without_resume_leaves_random_state_alone():
    hook = RandomStateHook()
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(sampler=None), iter=0)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    _draws()
    state = torch.get_rng_state()
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert torch.equal(torch.get_rng_state(), state)
