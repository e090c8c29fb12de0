"""Split-list lines whose label contradicts the class folder their image sits in.

Published copies of DG split lists (PACS, DomainNet, miniDomainNet) name each image by its path,
``<domain>/<class>/<image> <label>``, and a few lines carry a label that contradicts that class
folder. The folder is what the image shows, so its class is taken; each such line is recorded
here, reported in one warning per dataset, and counted in ``results.json`` (``"relabelled"``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Relabelled:
    list_file: str
    line: int
    listed: int  # the label on the line, in the list's own numbering
    used: int  # the class folder's label, in the same numbering
    class_name: str

    def describe(self) -> str:
        return f"{self.list_file}:{self.line}: listed label {self.listed}, class used {self.used} ({self.class_name})"


def warn_relabelled(dataset_name: str, lines: list[Relabelled]) -> None:
    """One warning listing every relabelled line (nothing when there is none)."""
    if lines:
        logger.warning("%s: %d split-list line(s) give a label that contradicts the image's class folder; the "
                       "folder's class is used:\n  %s", dataset_name, len(lines),
                       "\n  ".join(r.describe() for r in lines))
