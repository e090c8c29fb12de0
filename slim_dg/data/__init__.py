from .build import DATASET_REGISTRY, build_data_loaders, build_dataset
# importing a dataset module registers it
from .datasets import (digits_dg, digits_dg_dassl, domainnet, image_folder, mini_domainnet,  # noqa: F401
                       officehome, pacs, vlcs, wilds_camelyon17, wilds_iwildcam)
from .datasets import cifar  # noqa: F401  (registers cifar10, cifar100)
from .datasets.base import DatasetMissingError, Datum, DGDataset, DomainSplits

__all__ = ["DATASET_REGISTRY", "DGDataset", "DatasetMissingError", "Datum", "DomainSplits", "build_data_loaders",
           "build_dataset"]
