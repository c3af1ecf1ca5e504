"""RunFolder is the one place that names the paths under a run's folder.

The scan below reads the package's source (its syntax tree, so comments and docstrings that
describe the layout do not count) and fails on a run-folder path spelled anywhere else than
:mod:`deepad.runs.layout` and the checkpoint code, so the next module that joins one by hand
fails here instead of drifting from the layout.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import deepad
from deepad.runs.layout import ARTIFACTS_ENV, Artifacts, RunFolder
from deepad.runs.store import RunStore, StoreError

PACKAGE = Path(deepad.__file__).resolve().parent
OWNERS = {PACKAGE / "runs" / "layout.py", PACKAGE / "train" / "checkpoint.py"}
# joins of the same names that are not about a run's folder: (file, name) -> what it is
NOT_RUN_PATHS = {
    ("deepad/text/embeddings.py", "model"): "the bundled text encoder's folder in its package",
}

# file names that exist only in a run's folder: not to be spelled anywhere else
FILE_NAMES = (
    "run.json",
    "run.log",
    "pixel_auroc_by_defect.json",
    "runner.json",
    "deleted.json",
    "model.onnx",
    "progress.json",
    "summary.json",
    "scores.npz",
    "last.json",
    "last.safetensors",
    "prev.json",
    "prev.safetensors",
)
# folder and stem names of a run's folder: not to be joined onto a path anywhere else
JOINED_NAMES = {
    "runs",
    "model",
    "explain",
    "explainers",
    "items",
    "scored",
    "cancel",
    "last",
    "prev",
    "resume",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _joined(node: ast.AST) -> str | None:
    """The name a path expression joins on: ``x / "name"`` (or ``x / f"name/{...}"``),
    ``x.joinpath("name", ...)``, ``Path("name")``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        right = node.right
        if isinstance(right, ast.JoinedStr) and right.values:
            right = right.values[0]
        if isinstance(right, ast.Constant) and isinstance(right.value, str):
            return right.value
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        named = (isinstance(func, ast.Attribute) and func.attr == "joinpath") or (
            isinstance(func, ast.Name) and func.id in ("Path", "PurePath")
        )
        first = node.args[0]
        if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def run_path_names(path: Path) -> list[str]:
    """``file:line: name`` for every run-folder path name spelled in the code of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found += [f"{where}: {name}" for name in FILE_NAMES if name in node.value]
        name = _joined(node)
        if name is None or (str(path.relative_to(PACKAGE.parent)), name) in NOT_RUN_PATHS:
            continue
        if name.split("/")[0] in JOINED_NAMES:
            found.append(f"{where}: joins {name!r}")
    return found


def test_no_module_but_the_layout_spells_a_run_path():
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in OWNERS
        for hit in run_path_names(path)
    ]
    assert found == [], "run-folder paths spelled outside deepad.runs.layout:\n" + "\n".join(found)


def test_the_scan_finds_a_path_joined_by_hand(tmp_path, monkeypatch):
    source = tmp_path / "drift.py"
    source.write_text(
        '"""Writes run.log (a docstring: allowed)."""\n'
        "def f(folder):\n"
        '    (folder / "explainers" / "progress.json").touch()\n'
        '    folder.joinpath("model").mkdir()\n'
        '    return folder / f"scored/{1}" , "see runner.json"\n'
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    hits = run_path_names(source)
    assert any("joins 'explainers'" in h for h in hits)
    assert any("progress.json" in h for h in hits)
    assert any("joins 'model'" in h for h in hits)
    assert any("joins 'scored/'" in h for h in hits)
    assert any("runner.json" in h for h in hits)
    assert not any("run.log" in h for h in hits)


def test_the_layout_on_disk_is_unchanged(tmp_path):
    """Run folders written before RunFolder existed load as they are."""
    folder = RunFolder(tmp_path / "runs" / "7")
    root = tmp_path / "runs" / "7"
    assert folder.run_id == 7
    assert folder.record == root / "run.json"
    assert folder.log == root / "run.log"
    assert folder.model == root / "model"
    assert folder.checkpoints == root
    assert folder.explain == root / "explain"
    assert folder.explainer_items == root / "explainers" / "items"
    assert folder.explain_summary == root / "explainers" / "summary.json"
    assert folder.defects == root / "pixel_auroc_by_defect.json"
    assert folder.ray_marker == root / "runner.json"
    assert folder.trash_marker == root / "deleted.json"
    assert folder.onnx == root / "model.onnx"
    assert folder.score_job("3").scores == root / "scored" / "3" / "scores.npz"
    assert folder.score_job("3").explain == root / "scored" / "3" / "explain"


def test_a_score_job_folder_is_named_by_its_number_and_a_bad_id_names_no_path(tmp_path):
    folder = RunFolder(tmp_path / "1")
    assert folder.score_job("12").path == tmp_path / "1" / "scored" / "12"
    for bad in ("../1", "", "1/..", "١"):  # the last: an Arabic-Indic digit
        with pytest.raises(ValueError, match="no score job"):
            folder.score_job(bad)


def test_the_artifact_root_is_the_home_unless_a_shared_one_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    local = Artifacts.for_home(tmp_path)
    assert local.root == tmp_path / "runs" and not local.shared
    assert local.environment() == {}
    shared = tmp_path / "mount"
    monkeypatch.setenv(ARTIFACTS_ENV, str(shared))
    found = Artifacts.for_home(tmp_path)
    assert found.root == shared and found.shared
    assert found.environment() == {ARTIFACTS_ENV: str(shared)}
    assert found.run(4).path == shared / "4"


def test_a_shared_artifact_root_that_is_missing_is_an_error_not_a_new_folder(tmp_path):
    mount = tmp_path / "mount"
    with pytest.raises(StoreError, match="shared artifact root"):
        RunStore(tmp_path / "home", artifacts=mount)
    assert not mount.exists()  # nothing created where the mount should be


def test_two_homes_share_runs_through_one_artifact_root(tmp_path):
    """A dashboard and a worker on another machine: one database, one shared folder."""
    mount = tmp_path / "mount"
    mount.mkdir()
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    here = RunStore(tmp_path / "dashboard", url=url, artifacts=mount)
    there = RunStore(tmp_path / "worker", url=url, artifacts=mount)
    run_id = here.create_run("kde", {"seed": 1}, "0" * 16)
    assert here.folder(run_id).path == there.folder(run_id).path == mount / str(run_id)
    there.folder(run_id).log.write_text("trained elsewhere\n")
    assert here.folder(run_id).log.read_text() == "trained elsewhere\n"
    assert json.loads(here.folder(run_id).record.read_text())["method"] == "kde"
    assert not (tmp_path / "dashboard" / "runs" / str(run_id)).exists()
    here.close()
    there.close()
