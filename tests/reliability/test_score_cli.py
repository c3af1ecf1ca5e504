"""``deepad score`` never writes a NaN score: bad input or a damaged model is one line."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from deepad.cli import main
from deepad.data.registry import DatasetRegistry
from deepad.data.types import DataKind, Dataset
from deepad.runs.store import RunStore
from deepad.runs.workflow import execute


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    table = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    data = Dataset(DataKind.TABLE, table, [f"r{i}" for i in range(30)], columns=["a", "b"])
    record = DatasetRegistry(home).add(data)
    store = RunStore(home)
    run_id = store.create_run("kde", {}, record.id)
    assert execute(store, run_id).status == "done"
    return home, run_id, store.folder(run_id).model


def test_a_value_beyond_float32_is_an_error_not_a_nan_score(finished, tmp_path, capsys):
    home, run_id, _ = finished
    (tmp_path / "t.csv").write_text("a,b\n1,2\n1e39,3\n")
    out = tmp_path / "scores.csv"
    assert main(["--home", str(home), "score", str(run_id), str(tmp_path / "t.csv"),
                 "--output", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "float32" in err and "row 2" in err and err.count("\n") == 1
    assert not out.exists()


def test_nan_weights_are_an_error_naming_the_model_file(finished, tmp_path, capsys):
    home, run_id, model = finished
    path = model / "detector.safetensors"
    original = path.read_bytes()
    tensors = load_file(path)
    key = next(k for k, v in tensors.items() if v.dtype.kind == "f" and v.size > 1)
    tensors[key] = np.full_like(tensors[key], np.nan)
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
    save_file(tensors, path, metadata=metadata)
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    store = RunStore(home)
    checksum = store.get(run_id).model_checksum
    try:
        # the run recorded its model's checksum: changed files are refused before loading
        assert main(["--home", str(home), "score", str(run_id), str(tmp_path / "t.csv")]) == 2
        err = capsys.readouterr().err
        assert "checksum mismatch" in err and err.count("\n") == 1
        # a run saved before checksums were recorded: loading itself names the NaN tensor
        store.update(run_id, model_checksum=None)
        assert main(["--home", str(home), "score", str(run_id), str(tmp_path / "t.csv")]) == 2
    finally:
        path.write_bytes(original)
        store.update(run_id, model_checksum=checksum)
    err = capsys.readouterr().err
    assert "detector.safetensors" in err and "NaN" in err and err.count("\n") == 1
