from .build import DATASET_REGISTRY, build_data_loaders, build_dataset
from .datasets import digits_dg  # noqa: F401  (registers digits_dg)
from .datasets.base import DatasetMissingError, Datum, DGDataset, DomainSplits

__all__ = ["DATASET_REGISTRY", "DGDataset", "DatasetMissingError", "Datum", "DomainSplits", "build_data_loaders",
           "build_dataset"]
