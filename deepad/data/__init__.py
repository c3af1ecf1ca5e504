"""Datasets: the in-memory type, loaders for user data, the on-disk registry and demo sets.

Nothing here imports torch; tensors are made in :mod:`deepad.data.transforms`.
"""

from deepad.data.contamination import contaminate
from deepad.data.demo import DemoInfo, DemoSet, list_demos, load_demo
from deepad.data.images import split_train_test
from deepad.data.ingest import (
    InferredKind,
    infer_kind,
    load_any,
    load_images,
    load_table,
    load_texts,
    read_columns,
)
from deepad.data.registry import DatasetRecord, DatasetRegistry, home_dir
from deepad.data.sources import Source, Upload
from deepad.data.text import TextEncodingError
from deepad.data.types import ANOMALOUS, NORMAL, UNKNOWN, DataKind, Dataset, Skipped, as_dataset

__all__ = [
    "ANOMALOUS",
    "NORMAL",
    "UNKNOWN",
    "DataKind",
    "Dataset",
    "DatasetRecord",
    "DatasetRegistry",
    "DemoInfo",
    "DemoSet",
    "InferredKind",
    "Skipped",
    "Source",
    "TextEncodingError",
    "Upload",
    "as_dataset",
    "contaminate",
    "home_dir",
    "infer_kind",
    "list_demos",
    "load_any",
    "load_demo",
    "load_images",
    "load_table",
    "load_texts",
    "read_columns",
    "split_train_test",
]
