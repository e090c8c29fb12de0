"""The embedded ``digits_dg`` dataset: deterministic, disjoint, well-formed, and generated once."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import slim_dg.data.build  # noqa: F401  (defines DATASET_REGISTRY before the dataset registers)
from slim_dg.data.build import DATASET_REGISTRY
from slim_dg.data.datasets import digits_dg
from slim_dg.data.datasets.digits_dg import DigitsDG, domain_source_indices, generate_digits_dg

DOMAINS = ["mono", "inverse", "color", "texture"]
SOURCES = ["mono", "inverse", "color"]
N_DIGITS = 1797


def _pngs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return np.asarray(im, dtype=np.float64)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[DigitsDG, Path]:
    """A dataset generated on first use through the normal constructor."""
    root = tmp_path_factory.mktemp("root")
    ds = DigitsDG(root=str(root), source_domains=SOURCES, target_domains=["texture"], val_ratio=0.1)
    return ds, root / "digits_dg"


def test_registered():
    assert DATASET_REGISTRY.get("digits_dg") is DigitsDG
    assert DigitsDG.domains == tuple(DOMAINS)
    assert DigitsDG.dataset_dir == "digits_dg"


def test_source_indices_disjoint_and_cover_all():
    idx = domain_source_indices()
    assert list(idx) == DOMAINS
    sets = {d: set(v.tolist()) for d, v in idx.items()}
    for a in DOMAINS:
        assert len(sets[a]) == len(idx[a])
        for b in DOMAINS:
            if a < b:
                assert not sets[a] & sets[b], (a, b)
    assert set().union(*sets.values()) == set(range(N_DIGITS))
    sizes = [len(v) for v in idx.values()]
    assert max(sizes) - min(sizes) <= 1
    # a fixed seed, not numpy's global state
    np.random.seed(123)
    assert all(np.array_equal(idx[d], v) for d, v in domain_source_indices().items())


def test_files_are_named_by_their_disjoint_source_digits(built):
    _, tree = built
    idx = domain_source_indices()
    for d in DOMAINS:
        stems = sorted(int(p.stem) for p in (tree / d).rglob("*.png"))
        assert stems == idx[d].tolist(), d


def test_counts_and_classes(built):
    _, tree = built
    total = 0
    for d in DOMAINS:
        classes = sorted(p.name for p in (tree / d).iterdir() if p.is_dir())
        assert classes == [str(i) for i in range(10)], d
        counts = [len(list((tree / d / c).glob("*.png"))) for c in classes]
        assert all(c > 0 for c in counts), (d, counts)
        total += sum(counts)
    assert total == N_DIGITS
    # no temporary generation folder is left beside the tree
    assert sorted(p.name for p in tree.parent.iterdir()) == ["digits_dg"]


def test_deterministic(built, tmp_path):
    _, tree = built
    other = tmp_path / "again"
    generate_digits_dg(str(other))
    files = _pngs(tree)
    assert files == _pngs(other) and len(files) == N_DIGITS
    for rel in files[::50] + files[-3:]:
        assert (tree / rel).read_bytes() == (other / rel).read_bytes(), rel


def test_images_32x32_rgb_and_domains_look_as_specified(built):
    _, tree = built
    stats = {}
    for d in DOMAINS:
        imgs = np.stack([_load(p) for p in sorted((tree / d).rglob("*.png"))[::7]])
        assert imgs.shape[1:] == (32, 32, 3), d
        ring = np.concatenate([imgs[:, 0], imgs[:, -1], imgs[:, 1:-1, 0], imgs[:, 1:-1, -1]], axis=1)
        stats[d] = {
            "mean": imgs.mean(),
            # per-image, per-channel spread of the outer border, where the background shows
            "ring_std": np.median(ring.std(axis=1).mean(axis=1)),
            "chroma": np.abs(imgs - imgs.mean(axis=3, keepdims=True)).mean(),
        }
    assert stats["mono"]["mean"] < 80 < 175 < stats["inverse"]["mean"]
    assert stats["mono"]["chroma"] == stats["inverse"]["chroma"] == 0  # grey levels only
    assert stats["color"]["chroma"] > 10 and stats["texture"]["chroma"] > 5
    assert stats["texture"]["ring_std"] > stats["mono"]["ring_std"] + 5
    assert stats["color"]["ring_std"] < 5  # a flat background colour per image
    # the digit is actually drawn: every image has real contrast
    for d in DOMAINS:
        for p in sorted((tree / d).rglob("*.png"))[::97]:
            lum = _load(p) @ np.array([0.299, 0.587, 0.114])
            assert lum.max() - lum.min() > 60, p


def test_dgdataset_views(built):
    ds, tree = built
    assert ds.classnames == [str(i) for i in range(10)] and ds.num_classes == 10
    assert {x.domain for x in ds.train_x} == set(SOURCES)
    assert all(os.path.exists(x.impath) and 0 <= x.label < 10 for x in ds.train_x[::100])
    assert sorted(ds.val) == sorted(SOURCES)
    assert list(ds.test) == ["texture"]
    texture_files = sorted(str(p) for p in (tree / "texture").rglob("*.png"))
    assert sorted(x.impath for x in ds.test["texture"]) == texture_files
    assert all(x.domain == "texture" for x in ds.test["texture"])
    n_sources = sum(len(domain_source_indices()[d]) for d in SOURCES)
    n_val = sum(len(v) for v in ds.val.values())
    assert len(ds.train_x) + n_val == n_sources
    assert 0.03 < n_val / n_sources < 0.2
    # labels follow the class folders
    assert all(Path(x.impath).parent.name == str(x.label) for x in ds.train_x)


def test_existing_tree_is_not_regenerated(built, monkeypatch):
    ds, tree = built
    sample = sorted(tree.rglob("*.png"))[0]
    before = (tree.stat().st_mtime_ns, sample.stat().st_mtime_ns)

    def boom(path):
        raise AssertionError(f"regenerated {path}")

    monkeypatch.setattr(digits_dg, "generate_digits_dg", boom)
    again = DigitsDG(root=ds.root, source_domains=["texture"], target_domains=["mono"])
    assert (tree.stat().st_mtime_ns, sample.stat().st_mtime_ns) == before
    assert len(again.test["mono"]) == len(domain_source_indices()["mono"])


def test_generation_logs_and_is_atomic(tmp_path, monkeypatch, caplog):
    real = digits_dg._write_domain

    def fail_on_texture(out_dir, domain, *args):
        if domain == "texture":
            raise RuntimeError("killed mid-generation")
        real(out_dir, domain, *args)

    monkeypatch.setattr(digits_dg, "_write_domain", fail_on_texture)
    with caplog.at_level("INFO", logger="slim_dg.data"), pytest.raises(RuntimeError, match="killed"):
        DigitsDG(root=str(tmp_path), source_domains=SOURCES, target_domains=["texture"])
    assert any("digits_dg" in r.getMessage() and r.name == "slim_dg.data" for r in caplog.records)
    assert list(tmp_path.iterdir()) == []  # neither a half tree nor its temporary folder remains


def test_generate_refuses_existing_path(tmp_path):
    with pytest.raises(FileExistsError):
        generate_digits_dg(str(tmp_path))
