"""One writer per run directory: an OS file lock (``fcntl.flock``) on ``<run dir>/.lock``.

The kernel releases the lock when the holding process ends, however it ends (a crash or
``kill -9`` included), so a lock is never stale; the file itself may stay and means nothing
unless a live process holds it. The holder writes one line into the file (pid, host, start
time) for the message that a second writer gets.

File systems: local disks and tmpfs lock correctly. On Linux NFS clients (2.6.12 and later)
``flock`` is emulated with a whole-file ``fcntl`` lock held by the NFS server, so it also
excludes writers on other nodes, unless the share is mounted with ``nolock`` or
``local_lock=flock|all`` (then the lock is seen on this node only); a node that vanishes keeps
its lock until the server's lease expires (NFSv4: about 90 s). Lustre needs its ``flock`` mount
option (``localflock`` is node-local). Where locking is not supported at all the run goes on
with a warning that concurrent writers are not detected.

A sweep locks a run before it reads the run's state and hands the lock to the ``train.py`` it
starts (an inherited descriptor named by ``SLIM_DG_RUN_LOCK_FD``), so no other process can slip in
between; under NFS's emulation that lock belongs to the sweep process, which holds it until
the training ends.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import logging
import os
import socket
import time
from typing import Iterator

from ..errors import InputError
from .distributed import all_gather_object, is_main_process

LOCK_FILE = ".lock"
INHERITED_FD = "SLIM_DG_RUN_LOCK_FD"  # set by a sweep for the train.py it starts under its lock
logger = logging.getLogger(__name__)
_HELD: set[int] = set()  # this process's lock descriptors


def _drop_held_in_child() -> None:
    """A forked child (a DataLoader worker) must not keep the lock alive after its parent dies: it
    closes its copies (the parent's stay locked). A lock handed to a child on purpose leaves the set
    first (``RunLock.pass_on``)."""
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_held_in_child)
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
_UNSUPPORTED = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)


class RunLockedError(InputError):
    """Another live process holds the run directory's lock; the message names it."""

    def __init__(self, run_dir: str, holder: str):
        self.run_dir, self.holder = run_dir, holder
        super().__init__(f"{run_dir} is in use by {holder} (lock {os.path.join(run_dir, LOCK_FILE)}); "
                         "wait for that run to end or stop it, then run this again")


def holder_line() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"pid {os.getpid()}, host {socket.gethostname()}, since {now:%Y-%m-%d %H:%M:%S} UTC"


def _read_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 512).decode(errors="replace").strip()
    return text or "another process (it has not written its pid yet)"


def _same_file(fd: int, path: str) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a run dir removed and made again has a new one)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class RunLock:
    """The lock of one run directory, held from ``acquire`` until ``release`` (or the process ends)."""

    def __init__(self, run_dir: str, fd: int | None, created: bool = False):
        self.run_dir, self.fd = run_dir, fd  # fd None: the file system does not lock
        self.created = created  # acquire made the directory: release removes it if nothing else came
        if fd is not None:
            _HELD.add(fd)

    @classmethod
    def acquire(cls, run_dir: str) -> "RunLock":
        """Lock ``run_dir`` (created if needed) at once, or raise ``RunLockedError`` naming the holder."""
        created = not os.path.isdir(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, LOCK_FILE)
        patience = time.monotonic() + 0.2  # a sweep's ``probe`` holds a free lock for an instant
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in _BUSY and time.monotonic() < patience:
                    os.close(fd)
                    time.sleep(0.02)
                    continue
                if e.errno in _BUSY:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise RunLockedError(run_dir, holder) from None
                os.close(fd)
                if e.errno not in _UNSUPPORTED:
                    raise
                logger.warning("%s: this file system does not support file locks (%s); a second process writing "
                               "this run would not be detected", run_dir, os.strerror(e.errno))
                return cls(run_dir, None, created)
            if _same_file(fd, path):  # else the file was removed while we waited: lock the new one
                lock = cls(run_dir, fd, created)
                lock.write_holder()
                return lock
            os.close(fd)

    @classmethod
    def adopt_inherited(cls, run_dir: str) -> "RunLock | None":
        """The lock a sweep passed to this process for ``run_dir`` (``SLIM_DG_RUN_LOCK_FD``), or None."""
        fd = os.environ.pop(INHERITED_FD, None)
        if fd is None or not fd.isdigit():
            return None
        fd = int(fd)
        try:
            if not _same_file(fd, os.path.join(run_dir, LOCK_FILE)):
                os.close(fd)  # a lock of another directory: not ours to hold
                return None
        except OSError:  # not an open descriptor
            return None
        os.set_inheritable(fd, False)
        lock = cls(run_dir, fd)
        lock.write_holder()
        return lock

    def pass_on(self) -> int | None:
        """The descriptor to hand to a child process (``pass_fds``; the sweep's ``train.py``), which
        then holds the lock too. It leaves the set that forked children close: a ``Popen`` with a
        ``preexec_fn`` runs the fork hooks in the child, and would close it before ``pass_fds`` keeps it."""
        if self.fd is not None:
            _HELD.discard(self.fd)
        return self.fd

    def write_holder(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, (holder_line() + "\n").encode(), 0)

    def release(self) -> None:
        """Unlock; a directory that ``acquire`` made and that holds nothing else is removed first."""
        if self.created and os.path.isdir(self.run_dir) and is_empty_run_dir(self.run_dir):
            with contextlib.suppress(OSError):  # a writer that just came in keeps it
                os.remove(os.path.join(self.run_dir, LOCK_FILE))
                os.rmdir(self.run_dir)
        if self.fd is not None:
            _HELD.discard(self.fd)
            os.close(self.fd)  # closing the last descriptor releases the lock
            self.fd = None


def probe(run_dir: str) -> str | None:
    """Who holds ``run_dir``'s lock (its holder line), or None when nobody does. Creates nothing."""
    try:
        fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in _BUSY:
            return _read_holder(fd)
        return None
    finally:
        os.close(fd)
    return None


def is_empty_run_dir(run_dir: str) -> bool:
    """No files in ``run_dir`` but (maybe) its lock file."""
    return not [n for n in os.listdir(run_dir) if n != LOCK_FILE]


@contextlib.contextmanager
def hold_run_lock(run_dir: str) -> Iterator[RunLock | None]:
    """Holds ``run_dir``'s lock for the block. Under DDP the main process locks for its whole process
    group and every process raises the same ``RunLockedError`` when another group holds it."""
    lock, holder = None, None
    if is_main_process():
        try:
            lock = RunLock.adopt_inherited(run_dir) or RunLock.acquire(run_dir)
        except RunLockedError as e:
            holder = e.holder
    holder = all_gather_object(holder)[0]  # a collective: every process learns rank 0's outcome
    if holder is not None:
        raise RunLockedError(run_dir, holder)
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()
