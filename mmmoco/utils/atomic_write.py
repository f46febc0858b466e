"""Atomic file writes: a reader, or a crash, sees the old file or the complete new one.

A file is written to a hidden temporary sibling (same folder, so ``os.replace`` is atomic),
flushed and fsynced, then renamed over the final name, and the folder entry is flushed.
"""
import contextlib
import os


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
