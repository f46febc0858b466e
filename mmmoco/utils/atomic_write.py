"""Atomic file writes: a reader, or a crash, sees the old file or the complete new one.

A file is written to a hidden temporary sibling (same folder, so ``os.replace`` is atomic),
flushed and fsynced, then renamed over the final name, and the folder entry is flushed. A
writer killed midway leaves its temporary file (``.NAME.tmp-PID``) behind;
:func:`remove_stale_temporaries` deletes those of processes that are gone.
"""
import contextlib
import os
import re
from typing import List

#: The names :func:`temporary_path` gives: ``.NAME.tmp-PID``.
_TEMPORARY_NAME = re.compile(r'^\..+\.tmp-(?P<pid>[0-9]+)$')


def fsync_directory(folder: str) -> None:
    """Flush a directory entry to disk (after a rename), where the OS allows it.

    Args:
        folder: The directory.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on directories
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Flush a file's data to disk.

    Args:
        path: The file.
    """
    with open(path, 'rb+') as f:
        os.fsync(f.fileno())


def temporary_path(path: str) -> str:
    """A temporary name in the same folder as ``path`` (so ``os.replace`` is atomic).

    Args:
        path: The final path.

    Returns:
        A hidden sibling name carrying the process id.
    """
    folder, name = os.path.split(path)
    return os.path.join(folder, f'.{name}.tmp-{os.getpid()}')


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine.

    Args:
        pid: The process id.

    Returns:
        True if it exists (also when it belongs to another user).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the temporary files of :func:`temporary_path` left in a folder by writers that
    were killed: those whose process is gone, or is this one (an earlier failed write).

    Only hidden ``.NAME.tmp-PID`` files directly in ``folder`` are considered; a file of a
    process that still runs on this machine is kept.

    Args:
        folder: The folder (e.g. a work dir).

    Returns:
        The deleted paths.
    """
    removed = []
    for name in sorted(os.listdir(folder)):
        match = _TEMPORARY_NAME.match(name)
        path = os.path.join(folder, name)
        if match is None or not os.path.isfile(path):
            continue
        pid = int(match['pid'])
        if pid != os.getpid() and _process_exists(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed.append(path)
    return removed


def write_text_atomic(path: str, text: str) -> None:
    """Write a small text file atomically: temporary file, flush, fsync, ``os.replace``.

    A reader (or a crash) sees either the old content or the new, never a partial file.

    Args:
        path: The file to (re)write.
        text: Its new content.

    Raises:
        OSError: If writing fails; the old file is left as it was.
    """
    tmp = temporary_path(path)
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    fsync_directory(os.path.dirname(os.path.abspath(path)))
