"""Issue 9, item 5: ``--resume`` without a path never silently starts over, and a fresh run
never silently overwrites another run's checkpoints.

Before the fix, with ``last_checkpoint`` missing but ``epoch_1.pth`` present, ``--resume``
logged "resumed from the latest checkpoint None", trained from scratch and overwrote
``epoch_1.pth``. Issue 17, item 3: the checkpoint is chosen by its recorded iteration (not by
file time), ``last_checkpoint`` must point inside the work dir, and ``--resume`` on a work dir
without any checkpoint starts a new run.
"""
import os
import os.path as osp

import pytest

from tiny_run import (build_runner, copied_run, log_text, tiny_config, tiny_images,  # noqa: F401
                      trained_run)


@pytest.fixture
def finished(tiny_images, tmp_path_factory, tmp_path) -> str:
    """A copy of a finished 2-epoch run."""
    return copied_run(tiny_images, tmp_path_factory, str(tmp_path / 'work'))


def _resumed_iteration(tiny_images, work_dir) -> int:
    runner = build_runner(tiny_config(tiny_images, work_dir, resume=True))
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


def test_resume_takes_the_highest_recorded_iteration_not_the_newest_file(tiny_images,
                                                                          finished):
    """A work dir copied with plain cp: the file times follow the copy order, epoch_1.pth is
    the newest file. The recorded iterations decide (it used to resume epoch_1.pth)."""
    os.remove(osp.join(finished, 'last_checkpoint'))
    os.utime(osp.join(finished, 'epoch_2.pth'), (1e9, 1e9))
    assert _resumed_iteration(tiny_images, finished) == 10


def test_last_checkpoint_outside_the_work_dir_is_an_error(tiny_images, finished,
                                                          tmp_path_factory):
    """The copied last_checkpoint names the original run's file: stop, saying how to go on
    (it used to be followed with an INFO line, training on in the copy from the other run)."""
    record = osp.join(finished, 'last_checkpoint')
    other = osp.join(trained_run(tiny_images, tmp_path_factory), 'epoch_2.pth')
    with open(record, 'w') as f:
        f.write(other)
    with pytest.raises(ValueError, match=rf'{record} names {other}, outside this work dir.*'
                                         rf'--resume {other}.*remove {record}'):
        _resumed_iteration(tiny_images, finished)


def test_resume_on_an_empty_work_dir_starts_a_new_run(tiny_images, tmp_path):
    """One command for the first start of a job and its restarts (it used to refuse)."""
    work_dir = str(tmp_path)
    runner = build_runner(tiny_config(tiny_images, work_dir, epochs=1, resume=True,
                                      log_level='INFO'))
    runner.train()
    assert runner.iter == 5 and osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert f'--resume: no checkpoint in {work_dir} yet, starting a new run' in log_text(work_dir)


def test_resume_with_only_incomplete_checkpoints_stops(tiny_images, finished):
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        with open(osp.join(finished, name), 'r+b') as f:
            f.truncate(100)
    os.remove(osp.join(finished, 'last_checkpoint'))
    runner = build_runner(tiny_config(tiny_images, finished, resume=True))
    with pytest.raises(FileNotFoundError, match=rf'--resume: no complete checkpoint to resume '
                                                rf'from in {finished} .*incomplete'):
        runner.train()


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
