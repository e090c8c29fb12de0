"""``mini_domainnet``: Dassl's miniDomainNet (Zhou et al., DAEL): 4 DomainNet domains, 126 classes.

Layout: the DomainNet images of the four domains plus Dassl's lists::

    domainnet/<domain>/<class>/<image>.jpg
    domainnet/splits_mini/<domain>_{train,test}.txt   lines "<domain>/<class>/<image> <label 0-125>"

Same protocol as ``domainnet``: sources train on the train list and validate on the test list; a
target is tested on its test list (``DATASET.TARGET_SPLIT all``: on both lists).
"""
from __future__ import annotations

from ..build import DATASET_REGISTRY
from ..download.sources import Source, gdrive
from .domainnet import DomainNet, domain_sources

DOMAINS = ("clipart", "painting", "real", "sketch")


@DATASET_REGISTRY.register(name="mini_domainnet")
class MiniDomainNet(DomainNet):
    """clipart, painting, real, sketch; 126 classes."""

    name = "mini_domainnet"
    domains = DOMAINS
    split_dir = "splits_mini"
    num_classes_total = 126
    homepage = "https://github.com/KaiyangZhou/Dassl.pytorch/blob/master/DATASETS.md#minidomainnet"
    # the split lists are Dassl's (Google Drive); no checksum or image counts are published
    sources = domain_sources(DOMAINS) + (
        Source("splits_mini.zip", (gdrive("15rrLDCrzyi6ZY-1vJar3u7plgLe4COL7"),),
               (("splits_mini", "domainnet/splits_mini"),)),
    )
    expected_counts: dict[str, int] = {}
