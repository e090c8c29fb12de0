"""``wilds_iwildcam``: iWildCam2020-WILDS, camera-trap animal species (182 classes).

Layout (as ``wilds`` unpacks it)::

    iwildcam_v2.0/RELEASE_v2.0.txt
    iwildcam_v2.0/metadata.csv     split,filename,y,location_remapped,sequence_remapped,datetime,...
    iwildcam_v2.0/train/<filename>.jpg

Domains are camera traps (metadata field ``location``), named ``location<id>``; they are read
from the metadata. Official training locations are the sources (``train`` rows, ``id_val`` for
validation; the ``id_test`` rows are not used); the default targets are the official OOD test
locations, each reported on its own (the OOD ``val`` locations may be chosen as targets too).
WILDS ranks iWildCam by macro-F1; our per-domain reports give accuracy.
"""
from __future__ import annotations

from ..build import DATASET_REGISTRY
from .wilds_base import WildsDGDataset


@DATASET_REGISTRY.register(name="wilds_iwildcam")
class WildsIWildCam(WildsDGDataset):
    name = "wilds_iwildcam"
    wilds_name = "iwildcam"
    wilds_class_path = "wilds.datasets.iwildcam_dataset.IWildCamDataset"
    version = "2.0"
    dataset_dir = "iwildcam_v2.0"
    homepage = "https://wilds.stanford.edu/datasets/#iwildcam"
    domains = ()  # 323 locations, read from metadata.csv
    domain_field = "location"
    domain_prefix = "location"
    image_subdir = "train"
    count_by = "split"  # too many locations to list; the WILDS paper gives counts per split
    expected_counts = {"train": 129809, "id_val": 7314, "id_test": 8154, "val": 14961, "test": 42791}
