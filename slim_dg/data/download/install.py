"""Fetch a dataset's sources, unpack them and move them into ``DATASET.ROOT``, idempotently.

Each ``Source`` is skipped when everything it places already exists, so a re-run only does the
missing part. An archive is unpacked into a scratch directory inside the root (same file system,
so moving the result is a rename) and only moved into place when extraction fully succeeded.
"""
from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import zipfile
from typing import Sequence

from .extract import UnsafeArchiveError, extract_archive
from .transfer import FetchError, fetch
from .sources import Source

logger = logging.getLogger("slim_dg.download")
DOWNLOADS = ".downloads"


class DownloadError(RuntimeError):
    """The dataset could not be installed; the message says what to do by hand."""


def download_command(name: str, root: str, verify: bool = False) -> str:
    return f"python tools/download.py --dataset {name} --root {root}" + (" --verify" if verify else "")


def manual_instructions(name: str, root: str, source: Source, homepage: str = "") -> str:
    urls = "\n".join(f"       {u}" for u in source.urls)
    page = f"\n     (dataset page: {homepage})" if homepage else ""
    return (f"To install it by hand:\n"
            f"  1. download {source.filename} from one of\n{urls}{page}\n"
            f"  2. put it at {os.path.join(root, DOWNLOADS, source.filename)}\n"
            f"  3. run: {download_command(name, root)}\n"
            f"     (checks the file, unpacks it and moves it into place; or unpack it yourself into the "
            f"layout that datasets/README.md gives for {name})\n"
            f"  4. check: {download_command(name, root, verify=True)}")


def _placed(root: str, source: Source) -> bool:
    return all(os.path.exists(os.path.join(root, d)) for d in source.destinations)


def _move_into_place(src: str, dst: str) -> None:
    if os.path.exists(dst):
        logger.info("%s already exists; kept as is (delete it to reinstall)", dst)
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.replace(src, dst)


def unpack(archive: str, source: Source, root: str) -> None:
    """Extract ``archive`` into a scratch dir under ``root`` and move each ``place`` pair into place."""
    scratch = tempfile.mkdtemp(prefix=".extract-", dir=root)
    try:
        logger.info("Extracting %s", archive)
        try:
            extract_archive(archive, scratch)
        except UnsafeArchiveError as e:
            os.remove(archive)  # never keep (or retry) an archive that tried to escape
            raise DownloadError(f"Refused {archive} ({e}); the file was deleted and nothing was extracted.") from e
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as e:
            os.remove(archive)
            raise DownloadError(f"{archive} is not a readable archive ({e}); it was deleted. Run the "
                                "download again.") from e
        missing = [inner for inner, _ in source.place if not os.path.exists(os.path.join(scratch, inner))]
        if missing:
            top = sorted(os.listdir(scratch))
            raise DownloadError(f"{archive} does not have the expected layout: missing {missing} "
                                f"(its top level holds {top})")
        for inner, dst in source.place:
            _move_into_place(os.path.join(scratch, inner), os.path.join(root, dst))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def install_sources(name: str, root: str, sources: Sequence[Source], homepage: str = "", timeout: float = 30.0,
                    progress: bool = True, keep_archives: bool = False) -> None:
    """Download and place every source of dataset ``name`` that is not in place yet."""
    root = os.path.abspath(os.path.expanduser(root))
    os.makedirs(root, exist_ok=True)
    for source in sources:
        if _placed(root, source):
            logger.info("%s: %s already in place", name, ", ".join(source.destinations))
            continue
        try:
            path = fetch(source, os.path.join(root, DOWNLOADS), timeout=timeout, progress=progress)
        except FetchError as e:
            why = ("none of its sources could be reached (is this machine offline?)" if e.unreachable
                   else "no source delivered a valid file")
            raise DownloadError(f"{name}: {e.source.filename}: {why}.\n{e}\n"
                                f"{manual_instructions(name, root, source, homepage)}") from e
        if source.is_archive:
            unpack(path, source, root)
            if not keep_archives:
                os.remove(path)
        else:
            ((_, dst),) = source.place
            if keep_archives:
                dst_path = os.path.join(root, dst)
                os.makedirs(os.path.dirname(dst_path), exist_ok=True)
                shutil.copyfile(path, dst_path)
            else:
                _move_into_place(path, os.path.join(root, dst))
    logger.info("%s: all sources in place under %s", name, root)


__all__ = ["DOWNLOADS", "DownloadError", "download_command", "install_sources",
           "manual_instructions", "unpack"]
