"""Demo sets: the bundled Fashion-MNIST slice and demo.json handling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deepad.data import DataKind, list_demos, load_demo


def test_fashion_demo_is_listed_and_loads():
    infos = {d.name: d for d in list_demos()}
    assert "fashion" in infos
    info = infos["fashion"]
    assert info.kind == DataKind.IMAGE and "MIT" in info.attribution
    demo = load_demo("fashion")
    assert len(demo.train) == 300 and demo.train.labels is None and not demo.train.skipped
    assert all(im.shape == (28, 28) and im.dtype == np.uint8 for im in demo.train.items)
    test = demo.test
    assert len(test) == 200 and int(np.sum(test.labels == 0)) == 100
    assert sorted(set(test.classes) - {"normal"}) == [
        "ankle_boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "sneaker",
        "tshirt_top",
    ]  # fmt: skip
    assert demo.labeled is not None and set(demo.labeled.labels.tolist()) == {0, 1}


def test_demo_json_options_go_to_the_loader(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "all.jsonl").write_text(
        '{"body": "wheat", "topic": "grain"}\n{"body": "oil", "topic": "crude"}\n'
    )
    spec = {
        "title": "News",
        "kind": "text",
        "description": "two topics",
        "attribution": "made up",
        "train": "all.jsonl",
        "text_column": "body",
        "label_column": "topic",
        "normal_label": "grain",
    }
    (folder / "demo.json").write_text(json.dumps(spec))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "demo.json").write_text('{"title": "no kind"}')
    assert [d.name for d in list_demos(tmp_path)] == ["news"]
    demo = load_demo("news", tmp_path)
    assert demo.train.items == ["wheat", "oil"] and demo.train.labels.tolist() == [0, 1]
    assert demo.test is None and demo.labeled is None and demo.train.name == "News (train)"
    with pytest.raises(KeyError):
        load_demo("missing", tmp_path)
    with pytest.raises(KeyError):
        load_demo("../news", tmp_path)


def test_demo_paths_must_stay_in_their_folder(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "demo.json").write_text(json.dumps({"title": "t", "kind": "image", "train": "../x"}))
    with pytest.raises(ValueError, match="inside the demo folder"):
        load_demo("bad", tmp_path)


ASSETS = Path(__file__).resolve().parents[2] / "assets"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_bundled_assets_stay_small():
    assert folder_bytes(ASSETS / "demo" / "fashion") < 1_000_000
    assert folder_bytes(ASSETS / "demo") < 8_000_000


@pytest.mark.parametrize("info", list_demos(), ids=lambda d: d.name)
def test_every_bundled_demo_loads_and_is_attributed(info):
    assert info.attribution and info.description
    assert info.name in (ASSETS / "ATTRIBUTION.md").read_text(encoding="utf-8")
    demo = load_demo(info.name)
    assert len(demo.train) > 0 and demo.train.kind == info.kind
    for part in (demo.test, demo.labeled):
        if part is not None:
            assert len(part) > 0 and part.has_labels
