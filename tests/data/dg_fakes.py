"""Helpers for the dataset/download tests: tiny images, archives in each real dataset's layout, and
a local HTTP server (with ``Range`` support, which ``http.server.SimpleHTTPRequestHandler`` lacks)."""
from __future__ import annotations

import hashlib
import os
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def write_image(path: str, value: int = 128) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fmt = "PNG" if path.lower().endswith(".png") else "JPEG"
    Image.new("RGB", (4, 4), (value % 256, 40, 200)).save(path, fmt)
    return path


def build_split_folders(base: str, domains, splits, classes, per: int = 2) -> None:
    """``base/<domain>/<split>/<class>/<split>_<i>.jpg``: the layout of VLCS and Dassl's Digits-DG."""
    for d in domains:
        for s in splits:
            for c in classes:
                for i in range(per):
                    write_image(os.path.join(base, d, s, c, f"{s}_{i}.jpg"), i)


def write_text(path: str, lines: list[str]) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def zip_dir(src: str, dest: str) -> bytes:
    """Zip the contents of ``src`` (paths relative to it) and return the archive's bytes."""
    with zipfile.ZipFile(dest, "w") as zf:
        for dirpath, _, files in sorted(os.walk(src)):
            for f in sorted(files):
                full = os.path.join(dirpath, f)
                zf.write(full, os.path.relpath(full, src))
    return open(dest, "rb").read()


def tar_dir(src: str, dest: str) -> bytes:
    with tarfile.open(dest, "w:gz") as tf:
        for name in sorted(os.listdir(src)):
            tf.add(os.path.join(src, name), arcname=name)
    return open(dest, "rb").read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def count_files(root: str) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


# -- real layouts ----------------------------------------------------------------------------------
PACS_DOMAINS = ("art_painting", "cartoon", "photo", "sketch")
PACS_CLASSES = {"dog": 1, "giraffe": 3, "person": 7}  # a subset, with the official 1-based labels
PACS_BAD = "sketch/dog/n02103406_4068-1.png"


def build_pacs(base: str) -> dict[str, int]:
    """``base/pacs/{images,splits}`` with 3 images per class and domain (2 train, 1 crossval);
    the sketch train list also names Dassl's unreadable image. Returns images per domain."""
    counts = {}
    for d in PACS_DOMAINS:
        train, cross = [], []
        for cname, label in PACS_CLASSES.items():
            for i in range(3):
                rel = f"{d}/{cname}/pic_{i:03d}.jpg"
                write_image(os.path.join(base, "pacs", "images", rel), i)
                (train if i < 2 else cross).append(f"{rel} {label}")
        if d == "sketch":
            write_image(os.path.join(base, "pacs", "images", PACS_BAD))
            train.append(f"{PACS_BAD} 1")
        for split, lines in (("train", train), ("crossval", cross), ("test", train + cross)):
            write_text(os.path.join(base, "pacs", "splits", f"{d}_{split}_kfold.txt"), lines)
        counts[d] = len(train) + len(cross)
    return counts


OFFICE_DOMAINS = ("Art", "Clipart", "Product", "Real World")  # the release's folder names


def build_officehome_release(base: str, classes: list[str]) -> None:
    """``base/OfficeHomeDataset_10072016/<domain>/<class>/<image>.jpg`` as the authors ship it."""
    for d in OFFICE_DOMAINS:
        for i, c in enumerate(classes):
            write_image(os.path.join(base, "OfficeHomeDataset_10072016", d, c, f"{i:05d}.jpg"), i)
    write_text(os.path.join(base, "OfficeHomeDataset_10072016", "ImageInfo.csv"), ["info"])


DN_CLASSES = {"aircraft_carrier": 0, "The_Eiffel_Tower": 5, "zigzag": 344}


def build_domainnet_domain(base: str, domain: str, split_dir: str = "splits",
                           classes: dict[str, int] = DN_CLASSES) -> tuple[list[str], list[str]]:
    """Images of one domain under ``base/<domain>/`` and its lists under ``base/<split_dir>/``
    (2 train + 1 test per class). Returns the two lists' lines."""
    train, test = [], []
    for cname, label in classes.items():
        for i in range(3):
            rel = f"{domain}/{cname}/{domain}_{label:03d}_{i:06d}.jpg"
            write_image(os.path.join(base, rel), i)
            (train if i < 2 else test).append(f"{rel} {label}")
    write_text(os.path.join(base, split_dir, f"{domain}_train.txt"), train)
    write_text(os.path.join(base, split_dir, f"{domain}_test.txt"), test)
    return train, test


# -- a local HTTP server -----------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and srv.ranges:
            start = int(rng[6:].split("-", 1)[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", srv.content_types.get(self.path, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = srv.cut.pop(self.path, None)  # simulate a dropped connection once
        self.wfile.write(body[start:cut] if cut is not None else body[start:])

    def log_message(self, *args):
        pass


class LocalServer:
    """``files`` maps URL paths to bytes; ``requests`` records (path, Range header) of every GET."""

    def __init__(self, ranges: bool = True):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files, self.httpd.requests, self.httpd.cut = {}, [], {}
        self.httpd.content_types, self.httpd.ranges = {}, ranges
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def files(self) -> dict[str, bytes]:
        return self.httpd.files

    @property
    def requests(self) -> list:
        return self.httpd.requests

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def closed_port_url(path: str = "/x.zip") -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused), like an offline host."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"
