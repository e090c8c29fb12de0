"""A download that fills the disk (issue 20): one line, the ``.part`` file kept, and the next run resumes."""
import errno
import os

import pytest
from dg_fakes import LocalServer, sha256

from slim_dg.data.download import transfer
from slim_dg.data.download.sources import Source
from slim_dg.data.download.transfer import fetch
from slim_dg.utils.disk import DiskFullError


def test_a_full_disk_keeps_the_part_file_says_so_and_the_next_run_resumes(tmp_path, monkeypatch):
    data = os.urandom(3 * transfer.CHUNK)
    real_open = open

    def filling_open(path, mode="r", *args, **kwargs):  # the device is full after 1 MiB of this file
        f = real_open(path, mode, *args, **kwargs)
        written = [0]

        def write(b, _write=f.write):
            if written[0] + len(b) > transfer.CHUNK:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written[0] += len(b)
            return _write(b)

        f.write = write
        return f

    with LocalServer() as srv:
        srv.files["/blob.bin"] = data
        src = Source("blob.bin", (srv.url("/blob.bin"), srv.url("/mirror.bin")), (("", "blob.bin"),),
                     sha256=sha256(data))
        monkeypatch.setattr(transfer, "open", filling_open, raising=False)
        with pytest.raises(DiskFullError) as e:
            fetch(src, str(tmp_path), progress=False)
        part = tmp_path / "blob.bin.part"
        assert str(e.value) == (
            f"No space left on the device downloading {srv.url('/blob.bin')} to {part}: it needs 2.0 MB more "
            f"(3.0 MB in all), {transfer.human(transfer.free_bytes(str(part)))} are free there. The partial file "
            "(1.0 MB) is kept: free some space and run the same command again to resume the download.")
        assert part.stat().st_size == transfer.CHUNK
        assert len(srv.requests) == 1  # a full disk is not a reason to try the next mirror
        monkeypatch.setattr(transfer, "open", real_open, raising=False)
        fetch(src, str(tmp_path), progress=False)
    assert srv.requests[-1] == ("/blob.bin", f"bytes={transfer.CHUNK}-")
    assert sha256((tmp_path / "blob.bin").read_bytes()) == sha256(data)
