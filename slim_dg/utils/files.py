"""Writing a directory tree so that readers only ever see it complete."""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from typing import Iterator


@contextlib.contextmanager
def directory_built_in_place(path: str) -> Iterator[str]:
    """Yields a fresh temporary sibling of ``path`` to fill; on success it is renamed to ``path``.

    A failure (or a kill) leaves no ``path`` behind, only a hidden temporary that is removed on the
    way out. When a concurrent writer renamed its own copy first, theirs is kept and ours dropped.
    """
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError:
            if not os.path.isdir(path):  # not a concurrent writer finishing first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
