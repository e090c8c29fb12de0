"""``domainnet``: DomainNet (Peng et al., ICCV 2019), cleaned release, with the official lists.

Layout (the authors' per-domain zips and split lists)::

    domainnet/<domain>/<class>/<image>.jpg
    domainnet/splits/<domain>_{train,test}.txt     lines "<domain>/<class>/<image> <label 0-344>"

Sources train on ``<domain>_train.txt`` and validate on ``<domain>_test.txt`` (Dassl uses the
source test lists as validation too); a target domain is tested on ``<domain>_test.txt`` only, as in
Dassl (``DATASET.TARGET_SPLIT all``: on both lists). A line whose label contradicts its class folder
gets the folder's class (``relabel``).
"""
from __future__ import annotations

import collections
import os

from ..build import DATASET_REGISTRY
from ..download.sources import Source
from .base import Datum, DomainSplits
from .downloadable import DownloadableDataset, read_numbered_image_list
from .relabel import Relabelled

DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
_BASE = "csr.bu.edu/ftp/visda/2019/multi-source/"
# clipart and painting come from "groundtruth/", the cleaned archives (ai.bu.edu/M3SDA)
_ZIP_PATH = {d: f"groundtruth/{d}.zip" if d in ("clipart", "painting") else f"{d}.zip" for d in DOMAINS}
# MD5s (no SHA-256 is published): as recorded by third-party loaders of these exact URLs
_ZIP_MD5 = {"clipart": "cd0d8f2d77a4e181449b78ed62bccf1e", "infograph": "720380b86f9e6ab4805bb38b6bd135f8",
            "painting": "1ae32cdb4f98fe7ab5eb0a351768abfd", "quickdraw": "bdc1b6f09f277da1a263389efe0c7a66",
            "real": "dcc47055e8935767784b7162e7c7cca6", "sketch": "658d8009644040ff7ce30bb2e820850f"}
_LIST_MD5 = {
    "clipart_train": "b4349693a7f9c05c53955725c47ed6cb", "clipart_test": "f5ddbcfd657a3acf9d0f7da10db22565",
    "infograph_train": "379b50054f4ac2018dca4f89421b92d9", "infograph_test": "779626b50869edffe8ea6941c3755c71",
    "painting_train": "7db0e7ca73ad9982f6e1f7f3ef372c0a", "painting_test": "232b35dc53f26d414686ae579e38d9b5",
    "quickdraw_train": "b732ced3939ac8efdd8c0a889dca56cc", "quickdraw_test": "c1a828fdfe216fb109f1c0083a252c6f",
    "real_train": "8ebf02c2075fadd564705f0dc7cd6291", "real_test": "6098816791c3ebed543c71ffa11b9054",
    "sketch_train": "1233bd18aa9a8a200bf4cecf1c34ef3e", "sketch_test": "d8a222e4672cfd585298aa14d02ea441",
}


def _mirrors(path: str) -> tuple[str, ...]:
    return f"https://{_BASE}{path}", f"http://{_BASE}{path}"


def domain_sources(domains: tuple[str, ...]) -> tuple[Source, ...]:
    """The image zip of each domain (shared with ``mini_domainnet``)."""
    return tuple(Source(f"domainnet_{d}.zip", _mirrors(_ZIP_PATH[d]), ((d, f"domainnet/{d}"),), md5=_ZIP_MD5[d])
                 for d in domains)


@DATASET_REGISTRY.register(name="domainnet")
class DomainNet(DownloadableDataset):
    """clipart, infograph, painting, quickdraw, real, sketch; 345 classes; 586,575 images (cleaned)."""

    name = "domainnet"
    domains = DOMAINS
    dataset_dir = "domainnet"
    homepage = "https://ai.bu.edu/M3SDA/"
    split_dir = "splits"
    num_classes_total = 345
    sources = domain_sources(DOMAINS) + tuple(
        Source(f"{d}_{s}.txt", _mirrors(f"domainnet/txt/{d}_{s}.txt"), (("", f"domainnet/splits/{d}_{s}.txt"),),
               md5=_LIST_MD5[f"{d}_{s}"])
        for d in DOMAINS for s in ("train", "test"))
    # ai.bu.edu/M3SDA, "#Cleaned" row: images in <domain>_train.txt + <domain>_test.txt
    expected_counts = {"clipart": 48129, "infograph": 51605, "painting": 72266, "quickdraw": 172500,
                       "real": 172947, "sketch": 69128}

    def prepare(self) -> None:
        super().prepare()
        self._names: dict[int, str] = {}  # label -> class folder, from the lists read so far
        self._labels: dict[str, int] = {}  # and back

    @property
    def classnames(self) -> list[str]:
        return [self._names.get(i, f"class_{i}") for i in range(self.num_classes_total)]

    def _read_split(self, domain: str, split: str) -> list[Datum]:
        path = self.require_file(os.path.join(self.dataset_root, self.split_dir, f"{domain}_{split}.txt"),
                                 f"the official {split} list of {domain}")
        lines = read_numbered_image_list(path)
        for n, rel, label in lines:
            if label >= self.num_classes_total:
                raise ValueError(f"{path}:{n}: '{rel}' has label {label}, out of range 0-{self.num_classes_total - 1}")
        # a class folder's label is the one most of the list's lines give it; a line that gives another
        # is a slip (relabelled), but every list must agree on each folder's label, both ways. Ties go
        # to the label earlier lists gave the folder, then to one no other folder has (the most
        # unanimous folders choose first).
        votes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for _, rel, label in lines:
            votes[rel.split("/")[-2]][label] += 1
        for cname, count in sorted(votes.items(), key=lambda kv: -max(kv[1].values()) / sum(kv[1].values())):
            known = self._labels.get(cname)
            label = max(count, key=lambda k: (count[k], k == known, self._names.get(k, cname) == cname))
            clashes = []
            if self._labels.get(cname, label) != label:
                clashes.append(f"label {self._labels[cname]} to '{cname}'")
            if self._names.get(label, cname) != cname:
                clashes.append(f"label {label} to '{self._names[label]}'")
            if clashes:
                raise ValueError(f"{path}: its lines give label {label} to '{cname}', but other lines give "
                                 f"{' and '.join(clashes)}")
            self._labels[cname], self._names[label] = label, cname
        data = []
        for n, rel, label in lines:
            cname = rel.split("/")[-2]
            used = self._labels[cname]
            if label != used:  # a slip in the list: the folder says what the image is
                self.relabelled.append(Relabelled(path, n, label, used, cname))
            data.append(Datum(os.path.join(self.dataset_root, rel), used, domain))
        return self.check_images_exist(data, path)

    def load_domain(self, domain: str) -> DomainSplits:
        self.require_dir(os.path.join(self.dataset_root, domain), f"the {domain} images")
        if self.tests_on_test_list(domain):
            return DomainSplits([], self._read_split(domain, "test"))
        return DomainSplits(self._read_split(domain, "train"), self._read_split(domain, "test"))
