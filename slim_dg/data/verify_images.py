"""Decode every listed image once, up front, and report all unreadable ones at once.

Without it a corrupt file surfaces only when the sampler reaches it, possibly hours into a run;
``DATALOADER.VERIFY_IMAGES`` runs this before training and ``tools/download.py --verify`` after
the image counts. Decoding runs in threads (the decoders release the GIL); under DDP each
process checks its share and they pool what they found.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from ..utils.distributed import all_gather_object, get_rank, get_world_size
from .datasets.base import Datum

logger = logging.getLogger(__name__)


class UnreadableImagesError(ValueError):
    """Listed images that do not decode; the message names every one."""


def find_unreadable(paths: list[str], threads: int = 8, desc: str = "checking images") -> list[tuple[str, str]]:
    """``(path, reason)`` of every image in ``paths`` that does not decode, in their order."""
    from .build import decode_rgb

    def check(path: str) -> str | None:
        try:
            decode_rgb(path)
        except OSError as e:
            return str(e) or type(e).__name__
        return None

    bad = []
    with ThreadPoolExecutor(max(1, threads)) as pool, \
            tqdm(total=len(paths), desc=desc, unit="img", disable=None, leave=False) as bar:
        for path, why in zip(paths, pool.map(check, paths)):
            bar.update(1)
            if why is not None:
                bad.append((path, why))
    return bad


def describe_unreadable(bad: list[tuple[str, str]], total: int) -> str:
    return f"{len(bad)} of {total} listed images cannot be read:\n" + "\n".join(f"  {p}: {why}" for p, why in bad)


def listed_images(data_lists) -> list[str]:
    """Every image path in the given ``Datum`` lists, once, in order."""
    return list(dict.fromkeys(d.impath for data in data_lists for d in data))


def verify_images(data_lists: list[list[Datum]], on_bad_image: str, threads: int) -> None:
    """Decode every image of ``data_lists``; all unreadable ones at once: an ``UnreadableImagesError``
    (``on_bad_image`` "fail") or a warning that they will be skipped ("skip")."""
    paths = listed_images(data_lists)
    rank, world = get_rank(), get_world_size()
    tic = time.perf_counter()
    mine = find_unreadable(paths[rank::world], threads)
    reasons = dict(x for part in all_gather_object(mine) for x in part)  # every process learns every failure
    bad = [(p, reasons[p]) for p in paths if p in reasons]
    logger.info("DATALOADER.VERIFY_IMAGES: decoded %d images in %.1f s, %d unreadable", len(paths),
                time.perf_counter() - tic, len(bad))
    if not bad:
        return
    if on_bad_image == "skip":
        logger.warning("%s\nThey are skipped (DATALOADER.ON_BAD_IMAGE skip) and counted in results.json.",
                       describe_unreadable(bad, len(paths)))
        return
    raise UnreadableImagesError(f"{describe_unreadable(bad, len(paths))}\nReplace them, or set "
                                "DATALOADER.ON_BAD_IMAGE skip to leave them out (they are counted).")
