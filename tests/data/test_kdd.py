import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from deepad.data.benchmarks.kdd import find_kdd_file, load_kdd

LINES = [
    "0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal.",
    "0,icmp,ecr_i,SF,1032,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,511,511,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,255,1.00,0.00,1.00,0.00,0.00,0.00,0.00,0.00,smurf.",
    "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune.",
    "2,udp,private,SF,105,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,254,1.00,0.01,0.00,0.00,0.00,0.00,0.00,0.00,normal.",
]


def _write(tmp_path, gz=True):
    folder = tmp_path / "kddcup99"
    folder.mkdir()
    text = ("\n".join(LINES) + "\n").encode()
    if gz:
        path = folder / "kddcup.data_10_percent.gz"
        path.write_bytes(gzip.compress(text))
    else:
        path = folder / "kddcup.data_10_percent"
        path.write_bytes(text)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_one_hot_columns_and_inverted_labels(tmp_path, gz):
    path = _write(tmp_path, gz)
    assert find_kdd_file(tmp_path) == path
    data = load_kdd(tmp_path)
    # 38 numeric + protocols {icmp, tcp, udp} + services {ecr_i, http, private} + flags {S0, SF}
    assert data.items.shape == (4, 38 + 3 + 3 + 2)
    assert data.columns[38:] == [
        "protocol_type=icmp", "protocol_type=tcp", "protocol_type=udp",
        "service=ecr_i", "service=http", "service=private", "flag=S0", "flag=SF",
    ]  # fmt: skip
    assert data.labels.tolist() == [1, 0, 0, 1]  # normal traffic is the anomaly class
    assert data.classes == ["normal", "smurf", "neptune", "normal"]
    row = dict(zip(data.columns, data.items[1], strict=True))
    assert row["src_bytes"] == 1032 and row["count"] == 511 and row["service=ecr_i"] == 1
    assert data.items[:, 38:].sum(1).tolist() == [3, 3, 3, 3]
    assert load_kdd(path, anomaly="attack").labels.tolist() == [0, 1, 1, 0]


def test_wrong_column_count_is_a_clear_error(tmp_path):
    path = tmp_path / "kddcup.data_10_percent"
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="42 columns"):
        load_kdd(path)


def _real_root():
    root = os.environ.get("DEEPAD_DATA")
    return Path(root) if root else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.realdata
def test_real_file_when_present():
    try:
        path = find_kdd_file(_real_root())
    except FileNotFoundError:
        pytest.skip("KDD Cup 99 data not present")
    data = load_kdd(path)
    assert data.items.shape == (494021, 118)
    assert int(data.labels.sum()) == 97278
    assert np.isfinite(data.items).all()
