"""The downloader end to end against a local HTTP server: checksums, resume, mirrors, offline."""
from __future__ import annotations

import os

import pytest
from dg_fakes import (LocalServer, build_domainnet_domain, build_pacs, closed_port_url, count_files, md5, sha256,
                      write_text, zip_dir)

from slim_dg.data.datasets.domainnet import DomainNet
from slim_dg.data.datasets.pacs import PACS
from slim_dg.data.download import cli
from slim_dg.data.download.install import DownloadError
from slim_dg.data.download.sources import Source
from slim_dg.data.download.transfer import FetchError, fetch
from slim_dg.data.download.verify import verify_dataset


@pytest.fixture()
def pacs_zip(tmp_path) -> tuple[bytes, dict]:
    counts = build_pacs(str(tmp_path / "src"))
    return zip_dir(str(tmp_path / "src"), str(tmp_path / "pacs.zip")), counts


def _pacs_source(url: str, data: bytes, **kw) -> Source:
    return Source("pacs.zip", (url,), (("pacs", "pacs"),), sha256=kw.pop("sha", sha256(data)), **kw)


def test_pacs_download_checksum_extract_parse_and_verify(tmp_path, pacs_zip, monkeypatch, capsys):
    data, counts = pacs_zip
    root = str(tmp_path / "root")
    with LocalServer() as srv:
        srv.files["/pacs.zip"] = data
        monkeypatch.setattr(PACS, "sources", (_pacs_source(srv.url("/pacs.zip"), data),))
        monkeypatch.setattr(PACS, "expected_counts", counts)
        assert cli.main(["--dataset", "pacs", "--root", root, "--no-progress"]) == 0
        assert "pacs: OK" in capsys.readouterr().out
        n_requests = len(srv.requests)
        # idempotent: a second run finds everything in place and downloads nothing
        assert cli.main(["--dataset", "pacs", "--root", root, "--no-progress"]) == 0
        assert len(srv.requests) == n_requests
    # nothing left behind but the dataset: no archive, no .part, no scratch dir
    assert sorted(os.listdir(root)) == [".downloads", "pacs"] and os.listdir(os.path.join(root, ".downloads")) == []
    ds = PACS(root, ["art_painting", "cartoon", "photo"], ["sketch"])
    assert len(ds.train_x) == 3 * 6 and {d: len(v) for d, v in ds.val.items()} == {
        "art_painting": 3, "cartoon": 3, "photo": 3}
    assert len(ds.test["sketch"]) == 9  # Dassl's unreadable image is left out


def test_wrong_checksum_is_rejected_and_nothing_is_extracted(tmp_path, pacs_zip, monkeypatch, capsys):
    data, _ = pacs_zip
    root = tmp_path / "root"
    with LocalServer() as srv:
        srv.files["/pacs.zip"] = data
        monkeypatch.setattr(PACS, "sources", (_pacs_source(srv.url("/pacs.zip"), data, sha="0" * 64),))
        assert cli.main(["--dataset", "pacs", "--root", str(root), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "SHA-256" in err and "expected " + "0" * 64 in err
    assert sorted(os.listdir(root)) == [".downloads"] and os.listdir(root / ".downloads") == []  # deleted


def test_wrong_size_is_rejected(tmp_path):
    with LocalServer() as srv:
        srv.files["/f.bin"] = b"x" * 100
        with pytest.raises(FetchError, match="size 100 bytes, expected 99"):
            fetch(Source("f.bin", (srv.url("/f.bin"),), (("", "f.bin"),), size=99), str(tmp_path), progress=False)
    assert os.listdir(tmp_path) == []


def test_interrupted_download_resumes_with_a_range_request(tmp_path):
    data = os.urandom(300_000)
    part = tmp_path / "blob.bin.part"
    part.write_bytes(data[:123_456])  # what an interrupted run left behind
    with LocalServer() as srv:
        srv.files["/blob.bin"] = data
        path = fetch(Source("blob.bin", (srv.url("/blob.bin"),), (("", "blob.bin"),), sha256=sha256(data)),
                     str(tmp_path), progress=False)
    assert srv.requests == [("/blob.bin", "bytes=123456-")]
    assert open(path, "rb").read() == data and not part.exists()


def test_dropped_connection_keeps_the_part_file_and_the_next_run_resumes(tmp_path):
    data = os.urandom(200_000)
    src = Source("blob.bin", (), (("", "blob.bin"),), sha256=sha256(data))
    with LocalServer() as srv:
        srv.files["/blob.bin"] = data
        srv.httpd.cut["/blob.bin"] = 50_000  # the server hangs up after 50 kB
        src = Source(src.filename, (srv.url("/blob.bin"),), src.place, sha256=src.sha256)
        with pytest.raises(FetchError) as e:
            fetch(src, str(tmp_path), progress=False)
        assert e.value.unreachable
        assert (tmp_path / "blob.bin.part").stat().st_size == 50_000
        fetch(src, str(tmp_path), progress=False)
    assert srv.requests[-1] == ("/blob.bin", "bytes=50000-")
    assert sha256((tmp_path / "blob.bin").read_bytes()) == sha256(data)


def test_server_without_range_support_restarts_from_zero(tmp_path):
    data = os.urandom(10_000)
    (tmp_path / "b.bin.part").write_bytes(b"garbage-prefix")
    with LocalServer(ranges=False) as srv:
        srv.files["/b.bin"] = data
        fetch(Source("b.bin", (srv.url("/b.bin"),), (("", "b.bin"),), sha256=sha256(data)), str(tmp_path),
              progress=False)
    assert (tmp_path / "b.bin").read_bytes() == data


def test_next_mirror_is_tried_and_a_web_page_is_not_taken_for_the_file(tmp_path):
    data = b"archive-bytes" * 100
    with LocalServer() as srv:
        srv.files["/quota"] = b"<html>Quota exceeded</html>"
        srv.httpd.content_types["/quota"] = "text/html; charset=utf-8"
        srv.files["/good"] = data
        path = fetch(Source("a.zip", (closed_port_url(), srv.url("/missing"), srv.url("/quota"), srv.url("/good")),
                            (("", "a"),), sha256=sha256(data)), str(tmp_path), progress=False)
    assert open(path, "rb").read() == data
    assert [p for p, _ in srv.requests] == ["/missing", "/quota", "/good"]


def test_offline_prints_manual_instructions(tmp_path, monkeypatch, capsys):
    url = closed_port_url("/pacs.zip")
    monkeypatch.setattr(PACS, "sources", (Source("pacs.zip", (url,), (("pacs", "pacs"),)),))
    root = str(tmp_path / "root")
    assert cli.main(["--dataset", "pacs", "--root", root, "--no-progress", "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert "could be reached (is this machine offline?)" in err
    assert url in err and os.path.join(root, ".downloads", "pacs.zip") in err
    assert f"python tools/download.py --dataset pacs --root {root}" in err
    assert f"python tools/download.py --dataset pacs --root {root} --verify" in err


def test_manually_placed_archive_is_checked_and_used(tmp_path, pacs_zip, monkeypatch):
    data, counts = pacs_zip
    root = tmp_path / "root"
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / "pacs.zip").write_bytes(data)
    monkeypatch.setattr(PACS, "sources", (_pacs_source(closed_port_url(), data),))  # the network is never used
    PACS.download(str(root), progress=False)
    assert verify_dataset(PACS, str(root), expected=counts).ok


def test_domainnet_zips_and_lists_with_md5(tmp_path, monkeypatch):
    """Several sources per dataset: one zip per domain plus plain list files, checked by MD5."""
    src = tmp_path / "src"
    sources, expected = [], {}
    with LocalServer() as srv:
        for d in ("clipart", "sketch"):
            # the real zip holds just the domain folder at its top level; the lists are separate files
            train, test = build_domainnet_domain(str(src / d), d, split_dir="../lists")
            data = zip_dir(str(src / d), str(tmp_path / f"{d}.zip"))
            srv.files[f"/{d}.zip"] = data
            sources.append(Source(f"domainnet_{d}.zip", (srv.url(f"/{d}.zip"),), ((d, f"domainnet/{d}"),),
                                  md5=md5(data)))
            for split, lines in (("train", train), ("test", test)):
                body = open(src / "lists" / f"{d}_{split}.txt", "rb").read()
                srv.files[f"/{d}_{split}.txt"] = body
                sources.append(Source(f"{d}_{split}.txt", (srv.url(f"/{d}_{split}.txt"),),
                                      (("", f"domainnet/splits/{d}_{split}.txt"),), md5=md5(body)))
            expected[d] = len(train) + len(test)
        monkeypatch.setattr(DomainNet, "domains", ("clipart", "sketch"))
        DomainNet.download(str(tmp_path / "root"), sources=tuple(sources), progress=False)
        bad = Source("x.txt", (srv.url("/clipart_train.txt"),), (("", "domainnet/x.txt"),), md5="f" * 32)
        with pytest.raises(DownloadError, match="MD5"):
            DomainNet.download(str(tmp_path / "root"), sources=(bad,), progress=False)
    report = verify_dataset(DomainNet, str(tmp_path / "root"), expected=expected)
    assert report.ok, report.format()
    assert not os.path.exists(tmp_path / "root" / "domainnet" / "x.txt")


def test_verify_reports_count_mismatch(tmp_path, monkeypatch, capsys):
    counts = build_pacs(str(tmp_path))
    monkeypatch.setattr(PACS, "expected_counts", {**counts, "photo": counts["photo"] + 1})
    assert cli.main(["--dataset", "pacs", "--root", str(tmp_path), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "photo" in out
    report = verify_dataset(PACS, str(tmp_path), expected=counts)
    assert report.ok and report.counts == counts and report.counts["sketch"] == 10  # the left-out image counts


def test_verify_fails_on_a_missing_image(tmp_path, capsys):
    build_pacs(str(tmp_path))
    os.remove(tmp_path / "pacs" / "images" / "photo" / "giraffe" / "pic_001.jpg")
    assert cli.main(["--dataset", "pacs", "--root", str(tmp_path), "--verify"]) == 1
    assert "photo/giraffe/pic_001.jpg" in capsys.readouterr().err


def test_plain_file_source_is_moved_into_place(tmp_path):
    write_text(str(tmp_path / "l.txt"), ["a 1"])
    body = (tmp_path / "l.txt").read_bytes()
    with LocalServer() as srv:
        srv.files["/l.txt"] = body
        DomainNet.download(str(tmp_path / "root"), sources=(Source("l.txt", (srv.url("/l.txt"),),
                                                                    (("", "domainnet/splits/l.txt"),)),),
                           progress=False)
    assert (tmp_path / "root" / "domainnet" / "splits" / "l.txt").read_bytes() == body
    assert count_files(str(tmp_path / "root" / ".downloads")) == 0
