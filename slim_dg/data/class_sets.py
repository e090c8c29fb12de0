"""Which classes each domain of a run shows, checked before any work.

A target domain whose classes no source domain trains on makes a classifier fail on them without
a word (near-0% on a target whose class folders are named differently, say). So a run stops,
listing them per target domain, unless ``DATASET.ALLOW_UNSEEN_CLASSES`` is set (open-set
research) or the dataset's official protocol keeps such images (WILDS); the log and
``results.json`` then say how many target images belong to classes never trained on. A class that
only a source's validation split shows is a warning. Every domain gets one log line with its image
and class counts, and ``results.json`` keeps the class counts (``num_classes_seen``).
"""
from __future__ import annotations

import logging
from collections import Counter

from .datasets.base import DGDataset, Datum
from .datasets.class_map import KEY as CLASS_MAP_KEY
from .datasets.class_map import case_twins

logger = logging.getLogger("slim_dg.data")
ALLOW_KEY = "DATASET.ALLOW_UNSEEN_CLASSES"


class UnseenClassesError(ValueError):
    """A target domain has classes that no source domain trains on; the message lists them."""


def _labels(data: list[Datum]) -> Counter:
    return Counter(d.label for d in data)


def _names(dataset: DGDataset, labels, limit: int = 10) -> str:
    names = sorted(repr(dataset.classnames[i]) for i in labels)  # quoted: surrounding spaces show
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _by_domain(data: list[Datum]) -> dict[str, list[Datum]]:
    groups: dict[str, list[Datum]] = {}
    for x in data:
        groups.setdefault(x.domain, []).append(x)
    return groups


def _source_splits(dataset: DGDataset) -> dict[str, tuple[list[Datum], list[Datum]]]:
    """Per source domain: its training and its validation images."""
    train, val = _by_domain(dataset.train_x), _by_domain([x for v in dataset.val.values() for x in v])
    return {d: (train.get(d, []), val.get(d, [])) for d in dict.fromkeys([*train, *val])}


def unseen_images(dataset: DGDataset) -> dict[str, Counter]:
    """Per target domain: images per label of the classes that no source trains on."""
    trained = set(_labels(dataset.train_x))
    return {t: Counter({c: n for c, n in _labels(data).items() if c not in trained})
            for t, data in dataset.test.items()}


def allows_unseen(cfg, dataset: DGDataset) -> bool:
    return cfg.DATASET.ALLOW_UNSEEN_CLASSES or dataset.targets_may_have_unseen_classes


def class_counts(cfg, dataset: DGDataset) -> dict:
    """The ``results.json`` keys: ``num_classes_seen`` (classes with images, per domain: a source's
    train + val images, a target's test images) and, when unseen classes are allowed,
    ``num_unseen_class_images`` per target domain."""
    seen = {d: len(_labels(train + val)) for d, (train, val) in _source_splits(dataset).items()}
    seen.update({t: len(_labels(data)) for t, data in dataset.test.items()})
    res = {"num_classes_seen": seen}
    if allows_unseen(cfg, dataset):
        res["num_unseen_class_images"] = {t: sum(c.values()) for t, c in unseen_images(dataset).items()}
    return res


def check_class_sets(cfg, dataset: DGDataset) -> None:
    """Raise ``UnseenClassesError`` (or, when allowed, warn); warn about validation-only classes; log
    one line per domain."""
    unseen = {t: c for t, c in unseen_images(dataset).items() if c}
    if unseen and not allows_unseen(cfg, dataset):
        raise UnseenClassesError(_unseen_message(dataset, unseen))
    trained = set(_labels(dataset.train_x))
    for d, (train, val) in _source_splits(dataset).items():
        val_only = set(_labels(val)) - trained
        if val_only:
            logger.warning("Source %s: class(es) %s are in its validation split but in no source's training split; "
                           "source validation counts them as errors", d, _names(dataset, val_only))
        logger.info("Domain %s (source): %d images of %d classes (train %d, val %d)", d, len(train) + len(val),
                    len(_labels(train + val)), len(train), len(val))
    for t, data in dataset.test.items():
        logger.info("Domain %s (target): %d images of %d classes", t, len(data), len(_labels(data)))
    if unseen:
        why = ALLOW_KEY if cfg.DATASET.ALLOW_UNSEEN_CLASSES else f"{cfg.DATASET.NAME}'s official protocol"
        logger.warning("Target images of classes that no source trains on are evaluated (%s) and count as errors: %s",
                       why, "; ".join(f"{t}: {sum(c.values())} of {len(dataset.test[t])} images ({_names(dataset, c)})"
                                      for t, c in unseen.items()))


def _unseen_message(dataset: DGDataset, unseen: dict[str, Counter]) -> str:
    trained_names = [dataset.classnames[i] for i in set(_labels(dataset.train_x))]
    per_domain = []
    for t, counts in unseen.items():
        names = [dataset.classnames[i] for i in counts]
        twins = [g for g in case_twins(names + trained_names) if set(g) & set(names) and set(g) - set(names)]
        hint = f" ({'; '.join(' ~ '.join(repr(n) for n in g) for g in twins)}: same name up to case/spaces)" \
            if twins else ""
        per_domain.append(f"{t}: {_names(dataset, counts)} ({sum(counts.values())} images){hint}")
    return (f"Target domain(s) have classes that no source domain has in its training split, so no model can "
            f"predict them: {'; '.join(per_domain)}. If differently named folders are the same class, map them onto "
            f"one name with {CLASS_MAP_KEY} <file.yaml> ({{domain: {{folder: class}}}}, see datasets/README.md); to "
            f"evaluate anyway (open-set), set {ALLOW_KEY} True (the log and results.json then count their images).")
