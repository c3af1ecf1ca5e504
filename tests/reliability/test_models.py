"""Damaged model files are one-line errors naming the file; NaN scores never come out."""

import json
import pickle
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from deepad.errors import ModelFileError
from deepad.models import Detector, get_method
from deepad.models.base import check_finite_scores
from deepad.results import Scores

X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    get_method("ae")(epochs=1, hidden=(8,), code_size=2, device="cpu").fit(X).save(folder)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _header(raw: bytes) -> tuple[int, bytes]:
    size = struct.unpack("<Q", raw[:8])[0]
    return size, raw[8 : 8 + size]


def _pair(files):
    return json.loads(files["detector.json"])["__pair__"]


def _nan_weights(files):
    tensors = load_file_bytes(files["detector.safetensors"])
    key = next(k for k, t in tensors.items() if t.is_floating_point() and t.ndim == 2)
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    return {"detector.safetensors": save_bytes(tensors, _pair(files))}


def _grown(files):
    tensors = load_file_bytes(files["detector.safetensors"])
    key = next(k for k, t in tensors.items() if t.ndim == 2)
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, tensors[key].shape[1])
    return {"detector.safetensors": save_bytes(tensors, _pair(files))}


def _int_dtypes(files):
    raw = files["detector.safetensors"]
    size, header = _header(raw)
    return {"detector.safetensors": raw[:8] + header.replace(b'"F32"', b'"I32"') + raw[8 + size :]}


def _json_with(**changes):
    def change(files):
        tree = json.loads(files["detector.json"])
        for key, value in changes.items():
            if key == "image_size":
                tree["config"][key] = value
            else:
                tree[key] = value
        return {"detector.json": json.dumps(tree).encode()}

    return change


def load_file_bytes(raw):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        f.write(raw)
        f.flush()
        return dict(load_file(f.name))


def save_bytes(tensors, pair):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        save_file(tensors, f.name, metadata={"pair": pair})
        return open(f.name, "rb").read()


DAMAGE = {
    "truncated": lambda f: {"detector.safetensors": f["detector.safetensors"][:50]},
    "empty": lambda f: {"detector.safetensors": b""},
    "huge header": lambda f: {"detector.safetensors": struct.pack("<Q", 2**40) + b"{}"},
    "pickle": lambda f: {"detector.safetensors": pickle.dumps({"w": [1.0]})},
    "torch.save": lambda f: {"detector.safetensors": _torch_saved()},
    "folder": lambda f: {"detector.safetensors": None},
    "NaN weights": _nan_weights,
    "F32 made I32": _int_dtypes,
    "changed shape": _grown,
    "config of the wrong type": _json_with(image_size="x"),
    "threshold a string": _json_with(threshold="high"),
    "unknown kind": _json_with(kind="video"),
    "deep nesting": lambda f: {"detector.json": b"[" * 100_000 + b"]" * 100_000},
    "a JSON list": lambda f: {"detector.json": b"[1, 2]"},
    "not JSON": lambda f: {"detector.json": b"\x80\x04garbage"},
}


def _torch_saved():
    import io

    out = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, out)
    return out.getvalue()


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_model_files_are_one_line_errors_naming_the_file(saved, tmp_path, damage):
    files = {**saved, **DAMAGE[damage](saved)}
    for name, content in files.items():
        if content is None:
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(content)
    with pytest.raises(ModelFileError) as caught:
        Detector.load(tmp_path).score(X)
    message = str(caught.value)
    assert str(tmp_path) in message and "\n" not in message


def test_non_finite_scores_are_an_error_naming_the_items():
    scores = Scores(np.array([0.1, np.nan, np.inf]), {"part": np.array([1.0, 2.0, 3.0])})
    with pytest.raises(
        ValueError, match=r"2 of 3 items got a NaN or infinite score \(e\.g\. b, c\)"
    ):
        check_finite_scores(scores, ["a", "b", "c"])


@pytest.mark.parametrize("method", ["kde", "ocsvm", "pca"])
def test_training_on_values_beyond_float32_names_the_row_and_column(method):
    bad = X.astype(np.float64)
    bad[5, 1] = 1e39
    with pytest.raises(ValueError, match=r"training item row_5, column 2: .*float32"):
        get_method(method)().fit(bad)
