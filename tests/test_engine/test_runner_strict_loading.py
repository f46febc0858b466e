"""Issue 9, item 2: weights that do not match the model stop the run, with the keys named in
the error and in the work-dir log. Resume is always strict; ``load_from`` is strict unless the
config sets ``load_from_strict=False`` (partial initialisation, mismatches logged as a
warning). tools/test.py is covered in test_runner_checkpoint_safety.py.

Before the fix, a resume with another ``queue_len`` re-randomised the queue and trained on,
and ``load_from`` a backbone-only, depth-18-into-34 or empty file trained from partial or
random weights with the mismatch printed to stdout only. Issue 17, item 5: a tensor of another
dtype kind (int into float) or with NaN/Inf values is refused naming the key; a precision
change (float16 into float32) is logged in one line.
"""
import os.path as osp

import pytest
import torch

from mmmoco.utils import load_checkpoint_file
from tiny_run import build_runner, log_text, tiny_config, tiny_images, trained_run  # noqa: F401


@pytest.fixture
def checkpoint(tiny_images, tmp_path_factory) -> str:
    return osp.join(trained_run(tiny_images, tmp_path_factory), 'epoch_2.pth')


def _load(tiny_images, work_dir, path, resume=False, **options):
    runner = build_runner(tiny_config(tiny_images, work_dir, resume=resume, load_from=path,
                                      **options))
    runner.load_or_resume()
    return runner


def test_resume_with_another_queue_len_stops_naming_the_queue(tiny_images, checkpoint, tmp_path):
    work_dir = str(tmp_path)
    with pytest.raises(ValueError) as error:
        _load(tiny_images, work_dir, checkpoint, resume=True, queue_len=32)
    message = str(error.value)
    assert f"the weights in '{checkpoint}' do not match the model" in message
    assert 'shape mismatch (checkpoint vs model): queue.keys: (16, 128) vs (32, 128)' in message
    assert 'same config' in message
    assert 'queue.keys: (16, 128) vs (32, 128)' in log_text(work_dir)


def test_load_from_depth_18_into_depth_34_names_the_missing_blocks(tiny_images, checkpoint,
                                                                   tmp_path):
    with pytest.raises(ValueError, match=r'(?s)missing from the checkpoint: .*backbone\.layer1\.2\.'
                                         r'.*load_from_strict=False'):
        _load(tiny_images, str(tmp_path), checkpoint, **{'model.backbone.depth': 34})
    assert 'backbone.layer1.2.conv1.weight' in log_text(str(tmp_path))


@pytest.fixture
def backbone_only(checkpoint, tmp_path) -> str:
    state = load_checkpoint_file(checkpoint)['state_dict']
    path = str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict={key: value for key, value in state.items()
                                if key.startswith('backbone.')}), path)
    return path


def test_load_from_backbone_only_is_refused_by_default(tiny_images, backbone_only, tmp_path):
    with pytest.raises(ValueError, match=r'missing from the checkpoint: .*neck\.'):
        _load(tiny_images, str(tmp_path / 'work'), backbone_only)


def test_load_from_strict_false_loads_the_matching_weights_with_a_warning(
        tiny_images, backbone_only, tmp_path):
    work_dir = str(tmp_path / 'work')
    runner = _load(tiny_images, work_dir, backbone_only, load_from_strict=False)
    saved = load_checkpoint_file(backbone_only)['state_dict']
    model = runner.model.state_dict()
    assert all(torch.equal(model[key], value) for key, value in saved.items())
    log = log_text(work_dir)
    assert 'missing from the checkpoint' in log and 'neck.' in log
    assert 'load_from_strict=False: loading the' in log


def test_empty_state_dict_is_refused_even_when_not_strict(tiny_images, tmp_path):
    path = str(tmp_path / 'empty_state.pth')
    torch.save(dict(state_dict={}), path)
    for strict in (True, False):
        with pytest.raises(ValueError, match='no weight of the file matches the model'):
            _load(tiny_images, str(tmp_path / f'work{strict}'), path, load_from_strict=strict)


def _altered(checkpoint: str, path: str, change) -> str:
    """A copy of ``checkpoint`` whose state dict went through ``change`` (in place)."""
    data = load_checkpoint_file(checkpoint)
    change(data['state_dict'])
    torch.save(data, path)
    return path


@pytest.mark.parametrize('resume', [True, False], ids=['resume', 'load_from'])
def test_integer_and_non_finite_weights_are_refused_naming_the_key(tiny_images, checkpoint,
                                                                   tmp_path, resume):
    """Issue 17, item 5: an int64 conv1.weight used to load silently as whole-number floats
    (training on); a NaN BN running_var loaded like any value."""
    def change(state):
        state['backbone.conv1.weight'] = state['backbone.conv1.weight'].long()
        state['backbone.bn1.running_var'][0] = float('nan')

    path = _altered(checkpoint, str(tmp_path / 'altered.pth'), change)
    work_dir = str(tmp_path / 'work')
    with pytest.raises(ValueError) as error:
        _load(tiny_images, work_dir, path, resume=resume)
    message = str(error.value)
    assert f'cannot load {path}' in message
    assert 'backbone.conv1.weight: torch.int64 in the file, torch.float32 in the model' in message
    assert 'backbone.bn1.running_var (1 NaN, 0 Inf)' in message
    assert 'backbone.bn1.running_var (1 NaN, 0 Inf)' in log_text(work_dir)


def test_half_precision_weights_load_with_one_line(tiny_images, checkpoint, tmp_path):
    def change(state):
        for key, value in state.items():
            if value.is_floating_point():
                state[key] = value.half()

    path = _altered(checkpoint, str(tmp_path / 'half.pth'), change)
    floats = sum(value.is_floating_point() for value in load_checkpoint_file(path)[
        'state_dict'].values())
    work_dir = str(tmp_path / 'work')
    runner = _load(tiny_images, work_dir, path)
    assert runner.model.backbone.conv1.weight.dtype == torch.float32
    lines = [line for line in log_text(work_dir).splitlines() if 'converted' in line]
    assert len(lines) == 1 and lines[0].endswith(
        f"{path}: {floats} tensor(s) stored as torch.float16 converted to the model's "
        'torch.float32')
