"""What a dataset downloads: one ``Source`` per file, declared next to the dataset that reads it.

A dataset class lists its sources in ``sources``; ``install`` takes that table (or one passed in,
as the tests do with local URLs) and knows nothing about any particular dataset.
"""
from __future__ import annotations

from dataclasses import dataclass

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class Source:
    """One downloadable file.

    ``place`` maps paths inside the archive to paths under ``DATASET.ROOT``; each pair is moved
    into place once the whole archive is extracted. A plain (non-archive) file has one pair whose
    source is ``""``. ``sha256``/``md5`` are ``None`` where nobody publishes one: the extracted
    image counts (``--verify``) are then the integrity check.
    """

    filename: str  # stored as <ROOT>/.downloads/<filename> while in use
    urls: tuple[str, ...]  # mirrors, tried in order
    place: tuple[tuple[str, str], ...]
    sha256: str | None = None
    md5: str | None = None  # only where a third party publishes MD5 and nobody SHA-256
    size: int | None = None  # bytes, where known

    @property
    def is_archive(self) -> bool:
        return self.filename.lower().endswith(ARCHIVE_SUFFIXES)

    @property
    def destinations(self) -> list[str]:
        return [dst for _, dst in self.place]


def gdrive(file_id: str) -> str:
    """Google Drive's direct-download endpoint (``confirm=t`` skips the large-file warning page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"
