"""``wilds_camelyon17``: Camelyon17-WILDS, tumour vs normal 96x96 patches from 5 hospitals.

Layout (as ``wilds`` unpacks it)::

    camelyon17_v1.0/RELEASE_v1.0.txt
    camelyon17_v1.0/metadata.csv          patient,node,x_coord,y_coord,tumor,slide,center,split
    camelyon17_v1.0/patches/patient_<p>_node_<n>/patch_patient_<p>_node_<n>_x_<x>_y_<y>.png

Domains are the hospitals (metadata field ``hospital``, the CSV's ``center``): hospital0, 3 and 4
train (official ``train``/``id_val``), hospital1 is the official OOD validation domain and
hospital2 the test domain; both are reported on their own as targets.
"""
from __future__ import annotations

from ..build import DATASET_REGISTRY
from .wilds_base import WildsDGDataset


@DATASET_REGISTRY.register(name="wilds_camelyon17")
class WildsCamelyon17(WildsDGDataset):
    name = "wilds_camelyon17"
    wilds_name = "camelyon17"
    wilds_class_path = "wilds.datasets.camelyon17_dataset.Camelyon17Dataset"
    version = "1.0"
    dataset_dir = "camelyon17_v1.0"
    homepage = "https://wilds.stanford.edu/datasets/#camelyon17"
    domains = tuple(f"hospital{i}" for i in range(5))
    domain_field = "hospital"
    domain_prefix = "hospital"
    # patches per hospital in the v1.0 metadata (455,954 in all, as the WILDS paper reports)
    expected_counts = {"hospital0": 59436, "hospital1": 34904, "hospital2": 85054, "hospital3": 129838,
                       "hospital4": 146722}

    @property
    def classnames(self) -> list[str]:
        return ["normal", "tumor"]
