import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from deepad.data.benchmarks.odds import find_odds_file, load_odds


def test_reads_x_and_y_from_a_mat_file(tmp_path):
    folder = tmp_path / "odds"
    folder.mkdir()
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.array([[0], [0], [1], [0], [1], [0]], dtype=np.float64)
    scipy.io.savemat(folder / "tiny.mat", {"X": x, "y": y})
    path = find_odds_file(tmp_path, "tiny")
    data = load_odds(path)
    np.testing.assert_array_equal(data.items, x.astype(np.float32))
    assert data.labels.tolist() == [0, 0, 1, 0, 1, 0]
    assert data.name == "tiny" and data.columns == ["x0", "x1"]


def test_missing_variables_and_bad_labels_are_errors(tmp_path):
    scipy.io.savemat(tmp_path / "a.mat", {"X": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="expected variables"):
        load_odds(tmp_path / "a.mat")
    scipy.io.savemat(tmp_path / "b.mat", {"X": np.zeros((2, 2)), "y": np.array([0, 2])})
    with pytest.raises(ValueError, match="0 .inlier"):
        load_odds(tmp_path / "b.mat")
    (tmp_path / "c.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError):
        load_odds(tmp_path / "c.mat")


def _real_root():
    root = os.environ.get("DEEPAD_DATA")
    return Path(root) if root else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name, shape, outliers", [("thyroid", (3772, 6), 93), ("annthyroid", (7200, 6), 534)]
)
def test_real_files_when_present(name, shape, outliers):
    try:
        path = find_odds_file(_real_root(), name)
    except FileNotFoundError:
        pytest.skip(f"ODDS {name} not present")
    data = load_odds(path)
    assert data.items.shape == shape and int(data.labels.sum()) == outliers
