"""Data-aware form defaults: a torch-free summary from the manifest, and what each method
suggests from it."""

import numpy as np

from deepad.config import describe
from deepad.data.registry import DatasetRegistry
from deepad.data.summary import DataSummary, nearest_image_size
from deepad.data.types import DataKind, Dataset


def rgb_set(side: int, n: int = 3) -> Dataset:
    items = [np.zeros((side, side, 3), np.uint8) for _ in range(n)]
    return Dataset(DataKind.IMAGE, items, [f"{i}.png" for i in range(n)])


def test_summary_reads_side_channels_and_anomalies_from_the_manifest(tmp_path):
    record = DatasetRegistry(tmp_path).add(rgb_set(256), name="terrazzo")
    summary = DataSummary.from_manifest(record.manifest)
    assert (summary.kind, summary.count, summary.side, summary.channels) == (
        DataKind.IMAGE, 3, 256, 3,
    )  # fmt: skip
    assert summary.anomalous == 0
    assert summary.describe() == "256×256 RGB images, 3 items"


def test_large_images_are_halved_until_they_fit():
    assert nearest_image_size(256, cap=128) == 128
    assert nearest_image_size(28) == 28
    assert nearest_image_size(1024, cap=256) == 256


def test_image_methods_start_from_the_data_not_from_digits():
    from deepad.models.ae import AEConfig, Architecture
    from deepad.models.dsebm import DSEBMConfig
    from deepad.models.fcdd import FCDDConfig

    data = DataSummary(kind=DataKind.IMAGE, count=200, side=256, channels=3)
    ae = AEConfig.suggested_defaults("cuda", data)
    assert ae == {"architecture": Architecture.CONV, "image_size": 256}
    assert AEConfig.suggested_defaults("cpu", data)["image_size"] == 128
    assert FCDDConfig.suggested_defaults("cuda", data) == {"image_size": 256}
    assert DSEBMConfig.suggested_defaults("cuda", data) == {"image_size": 128}
    table = DataSummary(kind=DataKind.TABLE, count=1831, features=21)
    assert AEConfig.suggested_defaults("cuda", table) == {}
    # on a CPU a network stops once its held-out loss no longer improves
    assert AEConfig.suggested_defaults("cpu", table) == {"patience": 5}
    specs = {s.name: s for s in describe(AEConfig, suggested=ae, from_data=list(ae))}
    assert specs["image_size"].from_data and "From your data" in specs["image_size"].help
