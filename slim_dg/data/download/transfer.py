"""Resumable HTTP downloads from a list of mirrors, checked against the declared checksums.

Bytes go to ``<file>.part``; an interrupted transfer resumes from there with a ``Range`` request
on the next run, a full disk included (``DiskFullError`` says so, and the part file is kept). The
file gets its final name only once it is complete and its checksum matches; a file that does not
match is deleted, so a later run never trusts it.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import urllib.error
import urllib.request

from tqdm import tqdm

from ...utils.disk import DiskFullError, free_bytes, human, out_of_space
from .sources import Source

logger = logging.getLogger("slim_dg.download")
CHUNK = 1 << 20
USER_AGENT = "slim-dg-downloader/1.0"


class ChecksumError(RuntimeError):
    """A downloaded file is not the one declared (wrong hash or size); it has been deleted."""


class FetchError(RuntimeError):
    """No mirror delivered the file. ``unreachable`` is True when every mirror failed at the network level."""

    def __init__(self, source: Source, failures: list[tuple[str, str]], unreachable: bool):
        self.source, self.failures, self.unreachable = source, failures, unreachable
        lines = "\n".join(f"  {url}: {why}" for url, why in failures)
        super().__init__(f"Could not download {source.filename}:\n{lines}")


# errors that mean "this mirror cannot be reached now", as opposed to "it served the wrong thing"
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout,
                  OSError)


def file_digests(path: str) -> tuple[str, str]:
    """(sha256, md5) of a file, in one pass."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def check_file(path: str, source: Source) -> None:
    """Raise ``ChecksumError`` (after deleting ``path``) unless it matches the declared size and hashes."""
    problems = []
    size = os.path.getsize(path)
    if source.size is not None and size != source.size:
        problems.append(f"size {size} bytes, expected {source.size}")
    sha, md5 = file_digests(path)
    if source.sha256 and sha != source.sha256.lower():
        problems.append(f"SHA-256 {sha}, expected {source.sha256}")
    if source.md5 and md5 != source.md5.lower():
        problems.append(f"MD5 {md5}, expected {source.md5}")
    if problems:
        os.remove(path)
        raise ChecksumError(f"{path}: {'; '.join(problems)}. The file was deleted; download it again.")
    if not source.sha256 and not source.md5:
        logger.info("%s: no published checksum; its SHA-256 is %s (image counts are checked after extraction)",
                    source.filename, sha)


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200" -> 100
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def download_url(url: str, part: str, timeout: float = 30.0, progress: bool = True) -> None:
    """Append ``url``'s bytes to ``part``, resuming after what it already holds."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the part file is already complete
            return
        raise
    with resp:
        if have and (resp.status != 206 or _content_range_start(resp.headers.get("Content-Range")) != have):
            logger.info("%s ignored the resume request; starting %s over", url, os.path.basename(part))
            have = 0
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/html") and not part.endswith((".html.part", ".htm.part")):
            # Google Drive answers a quota or sign-in problem with a web page and status 200
            raise ValueError(f"served a web page ({ctype}) instead of the file (quota exceeded or moved?)")
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        try:
            with open(part, "ab" if have else "wb") as f, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=os.path.basename(part)[:-5], disable=not progress, leave=False) as bar:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
        except OSError as e:
            if not out_of_space(e):
                raise
            raise _download_disk_full(url, part, total) from e
    if total is not None and os.path.getsize(part) < total:
        raise ConnectionError(f"connection closed after {os.path.getsize(part)} of {total} bytes "
                              "(run again to resume)")


def _download_disk_full(url: str, part: str, total: int | None) -> DiskFullError:
    """The ``.part`` file is kept (unlike other writes): the next run resumes the download from it."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    left = f"{human(total - have)} more ({human(total)} in all)" if total is not None else "more (size unknown)"
    return DiskFullError(f"No space left on the device downloading {url} to {part}: it needs {left}, "
                         f"{human(free_bytes(part))} are free there. The partial file ({human(have)}) is kept: free "
                         "some space and run the same command again to resume the download.")


def fetch(source: Source, dest_dir: str, timeout: float = 30.0, progress: bool = True) -> str:
    """The verified file ``dest_dir/source.filename``, downloaded from the first mirror that works.

    A complete file already there (an earlier run, or a manual download) is checked and reused.
    """
    os.makedirs(dest_dir, exist_ok=True)
    final = os.path.join(dest_dir, source.filename)
    if os.path.isfile(final):
        logger.info("Using %s already on disk", final)
        check_file(final, source)
        return final
    part = final + ".part"
    failures: list[tuple[str, str]] = []
    unreachable = True
    for url in source.urls:
        logger.info("Downloading %s from %s", source.filename, url)
        try:
            download_url(url, part, timeout, progress)
        except urllib.error.HTTPError as e:  # the host answered: not a network outage
            failures.append((url, f"HTTP {e.code} {e.reason}"))
            unreachable = False
            continue
        except ValueError as e:
            failures.append((url, str(e)))
            unreachable = False
            if os.path.exists(part):
                os.remove(part)
            continue
        except NETWORK_ERRORS as e:
            failures.append((url, f"{type(e).__name__}: {getattr(e, 'reason', e)}"))
            continue  # the partial file is kept: the next mirror or run resumes it
        try:
            check_file(part, source)
        except ChecksumError as e:
            failures.append((url, str(e)))
            unreachable = False
            continue
        os.replace(part, final)
        return final
    raise FetchError(source, failures, unreachable)
