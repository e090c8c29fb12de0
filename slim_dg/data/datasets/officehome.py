"""``officehome``: Office-Home (Venkateswara et al., CVPR 2017), 4 domains, 65 classes, 15,588 images.

Layout (the authors' ``OfficeHomeDataset_10072016`` folder, moved to ``office_home`` as in DomainBed)::

    office_home/<domain>/<class>/<image>.jpg      domains Art, Clipart, Product, Real_World

The release names the last domain ``Real World`` (with a space); the downloader renames it, and a
copy unpacked by hand with the space is read as well. There is no official split: each source
domain's validation images are chosen by a stable hash of their path (``DATASET.VAL_RATIO``).
"""
from __future__ import annotations

import os
from dataclasses import replace

from ..build import DATASET_REGISTRY
from ..download.sources import Source, gdrive
from .base import DomainSplits
from .downloadable import DownloadableDataset
from .folder import list_classes, read_domain_folder

DOMAINS = ("Art", "Clipart", "Product", "Real_World")
FOLDER_ALIASES = {"Real_World": "Real World"}
# sorted as the folders are listed (Python order: "TV" before "Table"), as DomainBed and Dassl label them
CLASSNAMES = tuple(sorted((
    "Alarm_Clock", "Backpack", "Batteries", "Bed", "Bike", "Bottle", "Bucket", "Calculator", "Calendar", "Candles",
    "Chair", "Clipboards", "Computer", "Couch", "Curtains", "Desk_Lamp", "Drill", "Eraser", "Exit_Sign", "Fan",
    "File_Cabinet", "Flipflops", "Flowers", "Folder", "Fork", "Glasses", "Hammer", "Helmet", "Kettle", "Keyboard",
    "Knives", "Lamp_Shade", "Laptop", "Marker", "Monitor", "Mop", "Mouse", "Mug", "Notebook", "Oven", "Pan",
    "Paper_Clip", "Pen", "Pencil", "Postit_Notes", "Printer", "Push_Pin", "Radio", "Refrigerator", "Ruler",
    "Scissors", "Screwdriver", "Shelf", "Sink", "Sneakers", "Soda", "Speaker", "Spoon", "TV", "Table", "Telephone",
    "ToothBrush", "Toys", "Trash_Can", "Webcam")))
_RELEASE = "OfficeHomeDataset_10072016"


@DATASET_REGISTRY.register(name="officehome")
class OfficeHome(DownloadableDataset):
    """Art, Clipart, Product, Real_World; 65 classes."""

    name = "officehome"
    domains = DOMAINS
    dataset_dir = "office_home"
    supports_class_map = True
    homepage = "https://www.hemanthdv.org/officeHomeDataset.html"
    # DomainBed's mirror of the authors' zip (domainbed/scripts/download.py). No checksum is
    # published: the image counts are verified instead.
    sources = (
        Source("OfficeHomeDataset_10072016.zip", (gdrive("1uY0pj7oFsjMxRwaD3Sxy0jgel0fsYXLC"),),
               tuple((f"{_RELEASE}/{FOLDER_ALIASES.get(d, d)}", f"office_home/{d}") for d in DOMAINS)),
    )
    # Venkateswara et al. 2017 (15,588 images in all)
    expected_counts = {"Art": 2427, "Clipart": 4365, "Product": 4439, "Real_World": 4357}

    @property
    def classnames(self) -> list[str]:
        return list(CLASSNAMES)

    def load_domain(self, domain: str) -> DomainSplits:
        folder = domain
        if not os.path.isdir(os.path.join(self.dataset_root, domain)) and domain in FOLDER_ALIASES:
            if os.path.isdir(os.path.join(self.dataset_root, FOLDER_ALIASES[domain])):
                folder = FOLDER_ALIASES[domain]
        domain_dir = self.require_dir(os.path.join(self.dataset_root, folder), f"<class>/<image> folders of {domain}")
        folder_map = self.class_map.get(domain, {})
        present = {folder_map.get(f, f) for f in list_classes(domain_dir)}
        missing = [c for c in CLASSNAMES if c not in present]
        if missing:
            raise self.missing(os.path.join(domain_dir, missing[0]),
                               f"all 65 class folders; {len(missing)} missing: {', '.join(missing[:5])}")
        splits = read_domain_folder(self.dataset_root, folder, self.classnames, self.val_ratio, folder_map)
        if folder != domain:  # report under the canonical domain name
            splits = DomainSplits(*[[replace(d, domain=domain) for d in part]
                                    for part in (splits.train, splits.val)])
        return splits
