"""Issue 9, item 5: ``--resume`` without a path never silently starts over, and a fresh run
never silently overwrites another run's checkpoints.

Before the fix, with ``last_checkpoint`` missing but ``epoch_1.pth`` present, ``--resume``
logged "resumed from the latest checkpoint None", trained from scratch and overwrote
``epoch_1.pth``.
"""
import os
import os.path as osp
import shutil

import pytest

from tiny_run import build_runner, tiny_config, tiny_images, trained_run  # noqa: F401


@pytest.fixture
def finished(tiny_images, tmp_path_factory, tmp_path) -> str:
    """A copy of a finished 2-epoch run."""
    work_dir = str(tmp_path / 'work')
    shutil.copytree(trained_run(tiny_images, tmp_path_factory), work_dir)
    return work_dir


def _resumed_iteration(tiny_images, work_dir) -> int:
    runner = build_runner(tiny_config(tiny_images, work_dir, epochs=3, resume=True))
    runner.load_or_resume()
    return runner.iter


def test_resume_without_last_checkpoint_takes_the_newest(tiny_images, finished):
    os.remove(osp.join(finished, 'last_checkpoint'))
    assert _resumed_iteration(tiny_images, finished) == 10


def test_resume_skips_a_truncated_newest_checkpoint(tiny_images, finished):
    """A record naming a checkpoint cut short (a save killed before the atomic writes):
    the newest complete one is taken."""
    newest = osp.join(finished, 'epoch_2.pth')
    with open(newest, 'r+b') as f:
        f.truncate(os.path.getsize(newest) // 2)
    with open(osp.join(finished, 'last_checkpoint'), 'w') as f:
        f.write(newest)
    os.utime(newest)
    assert _resumed_iteration(tiny_images, finished) == 5


def test_resume_with_nothing_to_resume_from_stops(tiny_images, tmp_path):
    runner = build_runner(tiny_config(tiny_images, str(tmp_path), resume=True))
    with pytest.raises(FileNotFoundError, match=rf'--resume: no complete checkpoint to resume '
                                                rf'from in {tmp_path} .*drop --resume'):
        runner.train()
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.pth')]


def test_fresh_run_refuses_a_work_dir_with_checkpoints(tiny_images, finished):
    before = os.stat(osp.join(finished, 'epoch_1.pth')).st_mtime_ns
    runner = build_runner(tiny_config(tiny_images, finished, epochs=1))
    with pytest.raises(FileExistsError, match=rf'{finished} already holds checkpoints of an '
                                              r'earlier run \(.*epoch_1\.pth.*\).*--resume.*'
                                              r'overwrite_checkpoints=True'):
        runner.train()
    assert os.stat(osp.join(finished, 'epoch_1.pth')).st_mtime_ns == before


def test_overwrite_checkpoints_is_an_explicit_opt_out(tiny_images, finished):
    before = os.stat(osp.join(finished, 'epoch_1.pth')).st_mtime_ns
    runner = build_runner(tiny_config(tiny_images, finished, epochs=1,
                                      overwrite_checkpoints=True))
    runner.train()
    assert runner.iter == 5
    assert os.stat(osp.join(finished, 'epoch_1.pth')).st_mtime_ns != before
