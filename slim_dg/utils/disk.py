"""Files written whole or not at all, and a full disk (or quota) reported in one line.

A write that fails for lack of space (``ENOSPC``, ``EDQUOT``, or torch's serialisation error that
one of them caused) raises ``DiskFullError``: what was being written, where, how much it needed
and how much is free; the partial file is removed, so what was there before is intact.
"""
from __future__ import annotations

import errno
import os
import shutil
from typing import Callable

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(Exception):
    """A file could not be written for lack of space; the message says which, where, and how much.
    Not an ``OSError``: code that retries on I/O errors (a download's next mirror) must not retry this."""


def out_of_space(e: BaseException) -> bool:
    """Whether ``e``, or an error it was raised from or while handling, is ``ENOSPC``/``EDQUOT``."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            return True
        e = e.__cause__ or e.__context__
    return False


def free_bytes(path: str) -> int:
    """Free space for this user on the file system that holds ``path`` (or its nearest existing parent)."""
    folder = os.path.abspath(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def disk_full_error(what: str, path: str, needed: int, then: str = "free some space and run again") -> DiskFullError:
    return DiskFullError(f"No space left on the device writing {what} to {path}: it needs {human(needed)}, "
                         f"{human(free_bytes(path))} are free there. The partial file was removed; {then}.")


def write_atomic(path: str, write: Callable, what: str, needed: Callable[[], int],
                 then: str = "free some space and run again", binary: bool = False) -> str:
    """``write(f)`` into ``path.tmp``, flushed to disk, then renamed to ``path``: readers never see
    half a file. Out of space: the temporary is removed and ``DiskFullError`` raised, with
    ``needed()`` (computed only then) as the size; other errors keep their traceback."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        full = out_of_space(e)
        if not full and isinstance(e, RuntimeError):  # a serialiser that hid the OSError: check the space
            full = free_bytes(path) < needed()
        if full:
            raise disk_full_error(what, path, needed(), then) from e
        raise
    return path


def write_text_atomic(path: str, text: str, what: str, then: str = "free some space and run again") -> str:
    return write_atomic(path, lambda f: f.write(text), what, lambda: len(text.encode()), then)
