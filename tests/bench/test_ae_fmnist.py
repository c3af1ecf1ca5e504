import numpy as np
import pytest

from deepad.bench import BenchOptions, list_suites
from deepad.bench.ae_fmnist import QUICK_EPOCHS, _class_indices, ae_config, heldout_split
from deepad.config import ConfigError
from deepad.data.benchmarks.idx import IdxSplit
from deepad.models.ae import Architecture


def test_suite_is_registered():
    assert {"ae-fmnist", "ae-fmnist-heldout"} <= set(list_suites())


def test_settings_come_from_set_overrides_and_quick_mode():
    config = ae_config(BenchOptions(quick=True, seed=3, device="cpu", extra={"code_size": "16"}))
    assert (config.epochs, config.seed, config.device, config.code_size) == (
        QUICK_EPOCHS, 3, "cpu", 16,
    )  # fmt: skip
    conv = ae_config(BenchOptions(extra={"architecture": "conv", "epochs": "7"}))
    assert conv.architecture == Architecture.CONV and conv.epochs == 7
    with pytest.raises(ConfigError, match="unknown setting"):
        ae_config(BenchOptions(extra={"no_such_setting": "1"}))


def test_classes_by_index_or_name():
    assert _class_indices(BenchOptions()) == list(range(10))
    assert _class_indices(BenchOptions(quick=True)) == [0, 1]
    assert _class_indices(BenchOptions(classes=["3", "Bag"])) == [3, 8]


def test_heldout_split_stays_inside_the_training_images():
    labels = np.repeat(np.arange(10), 6000)
    images = (labels[:, None, None] * np.ones((1, 2, 2))).astype(np.uint8)  # pixel = class
    train, val = heldout_split(IdxSplit(images, labels), 4)
    assert len(train) == 5000 and len(val) == 3000
    assert {int(im[0, 0]) for im in train.items} == {4}
    assert int(val.labels.sum()) == 2000
    assert all((im[0, 0] == 4) == (y == 0) for im, y in zip(val.items, val.labels, strict=True))
    assert not set(train.names) & set(val.names)
