"""Issue 17, item 1: the temporary file a killed save leaves (``.epoch_2.pth.tmp-PID``) is
removed at the next save, when its process is gone; a file of a process that still runs, and
every other file, stays. Before the fix no later save removed it (18 MB each)."""
import os
import subprocess

from mmmoco.utils.atomic_write import remove_stale_temporaries
from tiny_run import build_runner, tiny_config, tiny_images  # noqa: F401


def _dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen(['true'])
    process.wait()
    return process.pid


def _touch(folder, name: str) -> str:
    path = os.path.join(str(folder), name)
    with open(path, 'wb') as f:
        f.write(b'partial checkpoint')
    return path


def test_only_temporaries_of_ended_processes_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = [_touch(tmp_path, f'.epoch_2.pth.tmp-{dead}'),
             _touch(tmp_path, f'.last_checkpoint.tmp-{os.getpid()}')]
    kept = [_touch(tmp_path, f'.epoch_3.pth.tmp-{alive}'), _touch(tmp_path, 'epoch_2.pth'),
            _touch(tmp_path, f'epoch_2.pth.tmp-{dead}'), _touch(tmp_path, '.notes.tmp-abc')]
    (tmp_path / f'.folder.tmp-{dead}').mkdir()
    assert remove_stale_temporaries(str(tmp_path)) == sorted(stale)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(path) for path in kept] + [f'.folder.tmp-{dead}'])


def test_the_next_checkpoint_save_removes_them(tiny_images, tmp_path):
    dead = _dead_pid()
    stale = _touch(tmp_path, f'.epoch_2.pth.tmp-{dead}')
    kept = _touch(tmp_path, f'.epoch_2.pth.tmp-{os.getppid()}')
    build_runner(tiny_config(tiny_images, str(tmp_path), epochs=1)).train()
    assert os.path.isfile(tmp_path / 'epoch_1.pth')
    assert not os.path.exists(stale) and os.path.isfile(kept)
