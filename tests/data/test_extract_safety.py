"""Archives that would write outside the target are refused, and leave nothing behind."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest
from dg_fakes import LocalServer, sha256

from slim_dg.data.datasets.pacs import PACS
from slim_dg.data.download.extract import UnsafeArchiveError, extract_archive
from slim_dg.data.download.install import DownloadError
from slim_dg.data.download.sources import Source


def _tar(path, members):
    """members: (name, kind, payload): kind file -> bytes, sym/hard -> link target, dir -> None."""
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = payload
                tf.addfile(info)
    return path


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, payload in members:
            if kind == "sym":
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, payload)
            else:
                zf.writestr(name, payload)
    return path


BAD = {
    "absolute": [("pacs/ok.txt", "file", b"ok"), ("/tmp/evil.txt", "file", b"x")],
    "dotdot": [("pacs/ok.txt", "file", b"ok"), ("pacs/../../evil.txt", "file", b"x")],
    "symlink_out": [("pacs/link", "sym", "../../outside")],
    "symlink_abs": [("pacs/link", "sym", "/etc")],
    # each link alone stays inside, but the second one, resolved through the first, points out
    "link_chain": [("pacs", "dir", None), ("pacs/up", "sym", ".."), ("pacs/up/up", "sym", ".."),
                   ("pacs/up/up/evil.txt", "file", b"x")],
    "hardlink_out": [("pacs/h", "hard", "../../etc/passwd")],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_tar_members_leaving_the_target_are_refused(tmp_path, case):
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError):
        extract_archive(_tar(str(tmp_path / "x.tar.gz"), BAD[case]), str(dest))
    assert not (tmp_path / "a" / "evil.txt").exists() and not (tmp_path / "a" / "b" / "evil.txt").exists()
    assert not os.path.exists("/tmp/evil.txt") or case != "absolute"


@pytest.mark.parametrize("case", ["absolute", "dotdot", "symlink_out", "symlink_abs"])
def test_zip_members_leaving_the_target_are_refused(tmp_path, case):
    dest = tmp_path / "a" / "dest"
    dest.mkdir(parents=True)
    members = [(n, k, p.encode() if isinstance(p, str) else p) for n, k, p in BAD[case]]
    with pytest.raises(UnsafeArchiveError):
        extract_archive(_zip(str(tmp_path / "x.zip"), members), str(dest))
    assert not (tmp_path / "a" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_links_inside_the_target_are_allowed(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_archive(_tar(str(tmp_path / "x.tar.gz"), [("d/f.txt", "file", b"hi"), ("d/l", "sym", "f.txt"),
                                                    ("d/h", "hard", "d/f.txt")]), str(dest))
    assert (dest / "d" / "l").read_bytes() == b"hi" and (dest / "d" / "h").read_bytes() == b"hi"


def test_unsafe_archive_from_the_network_leaves_nothing(tmp_path, monkeypatch, capsys):
    data = open(_tar(str(tmp_path / "evil.tar.gz"), BAD["dotdot"]), "rb").read()
    root = tmp_path / "root"
    with LocalServer() as srv:
        srv.files["/pacs.tar.gz"] = data
        src = Source("pacs.tar.gz", (srv.url("/pacs.tar.gz"),), (("pacs", "pacs"),), sha256=sha256(data))
        with pytest.raises(DownloadError, match="Refused"):
            PACS.download(str(root), sources=(src,), progress=False)
    # no dataset folder, no scratch folder, no archive
    assert sorted(os.listdir(root)) == [".downloads"] and os.listdir(root / ".downloads") == []
    assert not (tmp_path / "evil.txt").exists()


def test_archive_with_an_unexpected_layout_is_not_half_installed(tmp_path):
    data = open(_tar(str(tmp_path / "a.tar.gz"), [("PACS/x.txt", "file", b"x")]), "rb").read()
    with LocalServer() as srv:
        srv.files["/a.tar.gz"] = data
        src = Source("a.tar.gz", (srv.url("/a.tar.gz"),), (("pacs", "pacs"), ("PACS", "other")))
        with pytest.raises(DownloadError, match=r"missing \['pacs'\].*\['PACS'\]"):
            PACS.download(str(tmp_path / "root"), sources=(src,), progress=False)
    assert not (tmp_path / "root" / "other").exists() and not (tmp_path / "root" / "pacs").exists()
    assert [n for n in os.listdir(tmp_path / "root") if n.startswith(".extract")] == []


def test_corrupt_archive_is_deleted(tmp_path):
    with LocalServer() as srv:
        srv.files["/a.zip"] = b"PK\x03\x04 this is not a zip"
        src = Source("a.zip", (srv.url("/a.zip"),), (("pacs", "pacs"),))
        with pytest.raises(DownloadError, match="not a readable archive"):
            PACS.download(str(tmp_path / "root"), sources=(src,), progress=False)
    assert os.listdir(tmp_path / "root" / ".downloads") == []
