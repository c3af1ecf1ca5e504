"""Damaged or tampered model structure is refused on load, never a hang, a traceback or a
score: isolation-forest trees with cycles or out-of-range indices, a FIFO in place of a
model file, double-precision network tensors, sizes beyond bounds, an empty bank; and a run's
model is checked against the checksum, method and data kind the run recorded."""

import json
import os
import threading

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from deepad.errors import ModelFileError
from deepad.models import Detector, get_method
from deepad.models.checksum import model_checksum

X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)


def rewrite(folder, tensors_fn=None, json_fn=None):
    """Change the saved tensors and JSON consistently (dtype and shape declarations kept
    in step), as a deliberate tamperer would."""
    st, js = folder / "detector.safetensors", folder / "detector.json"
    tree = json.loads(js.read_text())
    tensors = load_file(str(st))
    with safe_open(str(st), framework="pt") as opened:
        meta = opened.metadata()
    if tensors_fn is not None:
        tensors = tensors_fn(tensors)

        def sync(node):
            if isinstance(node, dict):
                key = node.get("__tensor__", node.get("__ndarray__"))
                if key in tensors:
                    node["dtype"] = str(tensors[key].dtype).removeprefix("torch.")
                    node["shape"] = list(tensors[key].shape)
                    return
                for v in node.values():
                    sync(v)
            elif isinstance(node, list):
                for v in node:
                    sync(v)

        sync(tree)
    if json_fn is not None:
        json_fn(tree)
    save_file(tensors, str(st), metadata=meta)
    js.write_text(json.dumps(tree))


def load_and_score(folder):
    """Load and score in a thread, so a hang fails the test instead of blocking it."""
    outcome = {}

    def work():
        try:
            outcome["scores"] = Detector.load(folder).score(X).score
        except Exception as exc:  # noqa: BLE001 - inspected below
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "loading or scoring hung"
    return outcome


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iforest") / "model"
    get_method("iforest")(n_estimators=5).fit(X).save(folder)
    return folder


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _set(key, how):
    def change(tensors):
        name = next(k for k in tensors if k.endswith(key))
        value = tensors[name].clone()
        how(value)
        tensors[name] = value
        return tensors

    return change


def _self_loop(v):
    v[v >= 0] = 0  # the root's children are the root: a walk never reaches a leaf


def _backwards(v):
    inner = torch.nonzero(v >= 0).flatten()
    v[inner[-1]] = inner[-2]  # a later node points to an earlier one


@pytest.mark.parametrize(
    "change, reason",
    [
        (_set("left", _self_loop), "cycle"),
        (_set("right", _backwards), "cycle"),
        (_set("left", lambda v: v.masked_fill_(v >= 0, 10**9)), "past the last node"),
        (_set("feature", lambda v: v.fill_(99)), "feature outside"),
        (_set("roots", lambda v: v.fill_(-3)), "root"),
        (lambda t: {**t, "s.tensors.model.left": t["s.tensors.model.left"][:0]}, "empty"),
    ],
)
def test_damaged_forest_is_refused_on_load(forest, tmp_path, change, reason):
    folder = _copy(forest, tmp_path / "m")
    rewrite(folder, change)
    outcome = load_and_score(folder)
    assert isinstance(outcome.get("error"), ModelFileError), outcome
    assert reason in str(outcome["error"]) and str(folder) in str(outcome["error"])


@pytest.mark.parametrize("target", ["detector.json", "detector.safetensors"])
def test_fifo_in_place_of_a_model_file_is_refused_at_once(forest, tmp_path, target):
    folder = _copy(forest, tmp_path / "m")
    (folder / target).unlink()
    os.mkfifo(folder / target)
    outcome = load_and_score(folder)
    assert isinstance(outcome.get("error"), ModelFileError), outcome
    assert "not a regular file" in str(outcome["error"])
    with pytest.raises(ModelFileError, match="not a regular file"):
        model_checksum(folder)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ae") / "model"
    get_method("ae")(epochs=1, hidden=(8,), code_size=2, device="cpu").fit(X).save(folder)
    return folder


def test_double_precision_network_in_both_files_is_refused(network, tmp_path):
    folder = _copy(network, tmp_path / "m")
    rewrite(
        folder, lambda t: {k: v.double() if v.dtype == torch.float32 else v for k, v in t.items()}
    )
    outcome = load_and_score(folder)
    assert isinstance(outcome.get("error"), ModelFileError), outcome
    assert "float64" in str(outcome["error"])


@pytest.mark.parametrize("key, value", [("shape", [10**9]), ("channels", 10**9)])
def test_sizes_in_metadata_are_bounded(network, tmp_path, key, value):
    folder = _copy(network, tmp_path / "m")
    rewrite(folder, json_fn=lambda tree: tree["meta"].__setitem__(key, value))
    outcome = load_and_score(folder)
    assert isinstance(outcome.get("error"), ModelFileError), outcome
    assert "outside" in str(outcome["error"])


@pytest.mark.parametrize("method", ["kde", "ocsvm", "kernel_pca", "pca"])
def test_empty_or_misshapen_shallow_model_is_refused(tmp_path, method):
    folder = tmp_path / "m"
    get_method(method)().fit(X).save(folder)
    banks = ("points", "support_vectors", "components")
    rewrite(folder, lambda t: {k: v[:0] if k.endswith(banks) else v for k, v in t.items()})
    outcome = load_and_score(folder)
    assert isinstance(outcome.get("error"), ModelFileError), outcome
    assert "empty" in str(outcome["error"])


def test_image_size_in_shallow_metadata_is_bounded(tmp_path):
    folder = tmp_path / "m"
    get_method("kde")().fit(X).save(folder)
    rewrite(folder, json_fn=lambda tree: tree["meta"].__setitem__("image_size", 10**9))
    outcome = load_and_score(folder)
    assert isinstance(outcome.get("error"), ModelFileError), outcome


# ---------------------------------------------------------------- a run's model, checked
def run_with_model(tmp_path, *, method="kde", kind_data=None):
    from deepad.data.types import DataKind, Dataset
    from deepad.service import Service

    svc = Service(tmp_path / "home")
    data = kind_data or Dataset(DataKind.TABLE, X, [f"r{i}" for i in range(len(X))])
    train = svc.registry.add(data, name="train").id
    run_id = svc.store.create_run(method, {}, train)
    folder = svc.store.folder(run_id).model
    get_method("kde")().fit(X).save(folder)
    svc.store.update(run_id, status="done", threshold=1.0, model_checksum=model_checksum(folder))
    csv = tmp_path / "new.csv"
    csv.write_text("a,b,c,d\n" + "\n".join(",".join(map(str, r)) for r in X[:5]))
    return svc, run_id, folder, csv


def test_run_model_with_changed_files_is_not_used(tmp_path):
    from deepad.service import ServiceError

    svc, run_id, folder, csv = run_with_model(tmp_path)
    assert len(svc.score_path(run_id, csv).scores.score) == 5
    tree = json.loads((folder / "detector.json").read_text())
    tree["threshold"] = -1.0  # a valid file, just not the one the run saved
    (folder / "detector.json").write_text(json.dumps(tree))
    with pytest.raises(ServiceError, match="checksum mismatch"):
        svc.score_path(run_id, csv)


def test_run_model_of_another_method_or_kind_is_not_used(tmp_path):
    from deepad.data.types import DataKind, Dataset
    from deepad.service import ServiceError

    svc, run_id, _, csv = run_with_model(tmp_path, method="iforest")
    with pytest.raises(ServiceError, match="holds a kde model, but run 1 trained iforest"):
        svc.score_path(run_id, csv)
    images = Dataset(DataKind.IMAGE, [np.zeros((8, 8, 3), np.uint8)] * 3, ["a", "b", "c"])
    svc, run_id, _, csv = run_with_model(tmp_path / "other", kind_data=images)
    with pytest.raises(ServiceError, match="for table data, but run 1 trained on image data"):
        svc.score_path(run_id, csv)
