"""Issue 9, item 4: saving never loses the previous checkpoint. The new checkpoint and
``last_checkpoint`` are written to a temporary file in the same folder, flushed and renamed;
the checkpoint beyond ``max_keep_ckpts`` is deleted only after that.

Before the fix (mmengine's CheckpointHook, ``max_keep_ckpts=1``) the old checkpoint was
deleted first and the new one written in place, so a full disk or a kill during the save left
no complete checkpoint.
"""
import errno
import os
import os.path as osp
import shutil

import mmengine.runner.runner as mmengine_runner
import pytest

from mmmoco.engine.runner.checkpoint_loading import find_resume_checkpoint
from mmmoco.utils import load_checkpoint_file
from mmmoco.utils.atomic_write import write_text_atomic
from tiny_run import build_runner, log_text, tiny_config, tiny_images, trained_run  # noqa: F401


@pytest.fixture
def one_kept(tiny_images, tmp_path_factory, tmp_path) -> str:
    """A copy of a finished 1-epoch run that keeps one checkpoint: only epoch_1.pth."""
    work_dir = str(tmp_path / 'work')
    shutil.copytree(trained_run(tiny_images, tmp_path_factory, epochs=1), work_dir)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_1.pth'))
    return work_dir


def _resume_keeping_one(tiny_images, work_dir):
    cfg = tiny_config(tiny_images, work_dir, epochs=2, resume=True)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        max_keep_ckpts=1)
    return build_runner(cfg)


def _write_half_then(error: BaseException):
    """A replacement for mmengine's file writer: half a checkpoint, then ``error``."""
    def save(checkpoint, filename, *args, **kwargs):
        with open(filename, 'wb') as f:
            f.write(b'PK\x03\x04' + b'\0' * 1000)
        raise error
    return save


def _leftovers(work_dir: str) -> list:
    """The checkpoint files (complete or temporary) in a work dir."""
    return sorted(name for name in os.listdir(work_dir) if '.pth' in name)


def test_disk_full_keeps_the_previous_checkpoint(tiny_images, one_kept, monkeypatch):
    """A full disk during the save: the previous checkpoint and last_checkpoint stay (a
    config naming mmengine's CheckpointHook is refused: test_runner_startup_errors.py)."""
    monkeypatch.setattr(mmengine_runner, 'save_checkpoint',
                        _write_half_then(OSError(errno.ENOSPC, 'No space left on device')))
    runner = _resume_keeping_one(tiny_images, one_kept)
    final = osp.join(one_kept, 'epoch_2.pth')
    with pytest.raises(OSError, match=rf'could not write checkpoint {final}: No space left on '
                                      r'device \(errno 28\); nothing was replaced or deleted'):
        runner.train()
    assert _leftovers(one_kept) == ['epoch_1.pth']
    assert load_checkpoint_file(osp.join(one_kept, 'epoch_1.pth'))['meta']['epoch'] == 1
    with open(osp.join(one_kept, 'last_checkpoint')) as f:
        assert f.read() == osp.join(one_kept, 'epoch_1.pth')
    assert 'No space left on device' in log_text(one_kept)


def test_kill_during_save_leaves_a_resumable_run(tiny_images, one_kept, monkeypatch):
    """A save interrupted after half a file (as by kill -9) leaves epoch_1.pth and a partial
    temporary file that --resume ignores."""
    monkeypatch.setattr(mmengine_runner, 'save_checkpoint', _write_half_then(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _resume_keeping_one(tiny_images, one_kept).train()
    names = _leftovers(one_kept)
    assert 'epoch_1.pth' in names and 'epoch_2.pth' not in names
    assert any(name.startswith('.epoch_2.pth.tmp-') for name in names), names
    assert find_resume_checkpoint(one_kept) == osp.join(one_kept, 'epoch_1.pth')
    monkeypatch.undo()
    runner = _resume_keeping_one(tiny_images, one_kept)
    runner.train()
    assert runner.iter == 10
    assert [name for name in _leftovers(one_kept) if name.endswith('.pth')] == ['epoch_2.pth']


def test_rotation_deletes_only_after_the_new_checkpoint_is_complete(tiny_images, one_kept,
                                                                    monkeypatch):
    """When the old checkpoint is deleted, the new one is already in place and complete."""
    seen = []
    original_remove = os.remove

    def remove(path, *args, **kwargs):
        if path.endswith('epoch_1.pth'):
            new = osp.join(one_kept, 'epoch_2.pth')
            seen.append(load_checkpoint_file(new)['meta']['epoch'])
            with open(osp.join(one_kept, 'last_checkpoint')) as f:
                seen.append(f.read())
        return original_remove(path, *args, **kwargs)

    monkeypatch.setattr(os, 'remove', remove)
    _resume_keeping_one(tiny_images, one_kept).train()
    assert seen == [2, osp.join(one_kept, 'epoch_2.pth')]
    assert _leftovers(one_kept) == ['epoch_2.pth']


def test_last_checkpoint_is_replaced_atomically(tmp_path, monkeypatch):
    record = tmp_path / 'last_checkpoint'
    write_text_atomic(str(record), 'old')

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError):
        write_text_atomic(str(record), 'new')
    assert record.read_text() == 'old'
    assert os.listdir(tmp_path) == ['last_checkpoint']
