"""Archive extraction that cannot write outside its target directory.

Python 3.11's ``tarfile``/``zipfile`` trust member names: an absolute name, a ``..`` component
or a symlink pointing out of the target would write anywhere the user can (the ``filter="data"``
safeguard only exists in later patch releases). So each member is checked here, and every write
is re-checked against the *resolved* target, which also catches writing through a link that an
earlier member created. Callers extract into a scratch directory and move the result into place
only when extraction succeeded, so a rejected archive leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile


class UnsafeArchiveError(ValueError):
    """The archive holds a member that would land outside the target directory."""


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _target(dest: str, name: str) -> str:
    """Where member ``name`` goes under ``dest``; refuses absolute names and ``..`` components."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeArchiveError(f"absolute path in archive: {name!r}")
    if ".." in norm.split("/"):
        raise UnsafeArchiveError(f"'..' in archive path: {name!r}")
    path = os.path.join(dest, *[p for p in norm.split("/") if p not in ("", ".")])
    # resolve links created by earlier members: the real location must still be inside dest
    real_parent = os.path.realpath(os.path.dirname(path))
    if not _inside(real_parent, dest):
        raise UnsafeArchiveError(f"archive path {name!r} leads outside the target through a link")
    return path


def _check_link(dest: str, member_path: str, link: str, name: str) -> None:
    if os.path.isabs(link):
        raise UnsafeArchiveError(f"link {name!r} -> {link!r} is absolute")
    resolved = os.path.realpath(os.path.join(os.path.dirname(member_path), link))
    if not _inside(resolved, dest):
        raise UnsafeArchiveError(f"link {name!r} -> {link!r} points outside the target")


def _extract_tar(path: str, dest: str) -> None:
    with tarfile.open(path) as tar:
        for m in tar:
            target = _target(dest, m.name)
            if m.isdir():
                os.makedirs(target, exist_ok=True)
            elif m.isfile():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(m) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            elif m.issym():
                _check_link(dest, target, m.linkname, m.name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(m.linkname, target)
            elif m.islnk():  # a hard link names another member, relative to the archive root
                source = _target(dest, m.linkname)
                if not _inside(os.path.realpath(source), dest):
                    raise UnsafeArchiveError(f"hard link {m.name!r} -> {m.linkname!r} points outside the target")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(source, target)
            else:  # devices, FIFOs: never part of an image dataset
                raise UnsafeArchiveError(f"special file in archive: {m.name!r}")


def _extract_zip(path: str, dest: str) -> None:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            target = _target(dest, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                link = zf.read(info).decode()
                _check_link(dest, target, link, info.filename)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(link, target)
            elif info.is_dir():
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)


def extract_archive(path: str, dest: str) -> None:
    """Extract a .zip/.tar/.tar.gz/.tgz archive into the existing directory ``dest``."""
    dest = os.path.realpath(dest)
    if zipfile.is_zipfile(path):
        _extract_zip(path, dest)
    elif tarfile.is_tarfile(path):
        _extract_tar(path, dest)
    else:
        raise ValueError(f"{path} is neither a zip nor a tar archive")
