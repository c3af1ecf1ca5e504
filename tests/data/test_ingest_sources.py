"""Sources: zip archives, uploads, folders, and the refusal of unsafe archive entries."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from deepad.data import DataKind, Upload, load_any, load_images, read_columns


def png(value: int, size: tuple[int, int] = (5, 5)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


def test_acceptance_zip_ingests_good_images_and_names_the_rest(tmp_path):
    members = {f"img_{i:02d}.png": png(i * 10) for i in range(20)}
    truncated = noisy_png(1)
    members["broken.png"] = truncated[: len(truncated) // 2]
    members["readme.txt"] = b"twenty good images"
    members["../evil.png"] = png(1)
    archive = make_zip(members)

    for source in (Upload("batch.zip", archive), tmp_path / "batch.zip"):
        (tmp_path / "batch.zip").write_bytes(archive)
        data = load_images(source)
        assert data.kind == DataKind.IMAGE and len(data) == 20
        assert sorted(data.names) == sorted(f"img_{i:02d}.png" for i in range(20))
        assert all(im.shape == (5, 5) and im.dtype == np.uint8 for im in data.items)
        reasons = {s.name: s.reason for s in data.skipped}
        assert set(reasons) == {"broken.png", "readme.txt", "../evil.png"}
        assert "truncated" in reasons["broken.png"]
        assert reasons["readme.txt"] == "not an image"
        assert "unsafe" in reasons["../evil.png"]


@pytest.mark.parametrize("bad", ["/etc/x.png", "a/../../x.png", "C:/x.png", "..\\x.png"])
def test_unsafe_zip_paths_are_refused(bad):
    data = load_images(Upload("a.zip", make_zip({"ok.png": png(1), bad: png(2)})))
    assert data.names == ["ok.png"]
    assert [s.name for s in data.skipped] == [bad]


def test_nested_archives_and_bad_zips_are_skipped(tmp_path):
    inner = make_zip({"x.png": png(3)})
    data = load_images(Upload("outer.zip", make_zip({"a.png": png(1), "inner.zip": inner})))
    assert data.names == ["a.png"]
    assert "archive inside an archive" in data.skipped[0].reason

    (tmp_path / "a.png").write_bytes(png(1))
    (tmp_path / "more.zip").write_bytes(inner)
    data = load_images(tmp_path)
    assert data.names == ["a.png"] and data.skipped[0].name == "more.zip"

    data = load_images(Upload("fake.zip", b"PK not really"))
    assert len(data) == 0 and "zip" in data.skipped[0].reason


def test_list_of_uploads_mixes_files_and_archives():
    uploads = [
        Upload("one.png", png(1)),
        Upload("two.png", png(2, (3, 8))),
        Upload("more.zip", make_zip({"normal/x.png": png(3)})),
        Upload(".DS_Store", b"\0"),
        Upload("../up.png", png(4)),
    ]
    data = load_images(uploads)
    assert data.names == ["one.png", "two.png", "normal/x.png"]
    assert data.labels.tolist() == [-1, -1, 0]
    assert [s.name for s in data.skipped] == ["../up.png"]
    assert data.name == "one (+4)"


def test_size_limits_per_entry_and_per_source(tmp_path, monkeypatch):
    from deepad.data import sources

    members = {f"{i}.png": noisy_png(i) for i in range(3)}
    size = len(members["0.png"])
    monkeypatch.setattr(sources, "MAX_TOTAL_BYTES", 2 * size + 10)
    data = load_images(Upload("a.zip", make_zip(members)))
    assert data.names == ["0.png", "1.png"]
    assert data.skipped[0].name == "2.png" and "in total" in data.skipped[0].reason
    for i, content in members.items():
        (tmp_path / i).write_bytes(content)
    assert len(load_images(tmp_path)) == 2  # the budget also covers folders

    monkeypatch.setattr(sources, "MAX_ENTRY_BYTES", size - 1)
    data = load_images(Upload("a.zip", make_zip(members)))
    assert len(data) == 0 and all("larger than" in s.reason for s in data.skipped)
    data = load_images(tmp_path)
    assert len(data) == 0 and all("larger than" in s.reason for s in data.skipped)


def test_damaged_archive_entry_is_skipped():
    good, bad = noisy_png(3), noisy_png(4)
    archive = bytearray(make_zip({"good.png": good, "bad.png": bad}))
    at = bytes(archive).index(bad) + len(bad) // 2  # stored uncompressed: flip a data byte
    archive[at] ^= 0xFF
    data = load_images(Upload("d.zip", bytes(archive)))
    assert data.names == ["good.png"]
    assert data.skipped[0].name == "bad.png" and "CRC" in data.skipped[0].reason


def test_list_of_paths(tmp_path):
    (tmp_path / "a.png").write_bytes(png(1))
    (tmp_path / "b.png").write_bytes(png(2))
    data = load_images([tmp_path / "b.png", str(tmp_path / "a.png")])
    assert data.names == ["b.png", "a.png"] and data.name == "b (+1)"


def test_missing_path_and_wrong_source_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        load_images(tmp_path / "nothere")
    with pytest.raises(TypeError):
        load_images(b"bytes are not a source")  # type: ignore[arg-type]


def test_read_columns_and_load_any_dispatch(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,4,1\n", encoding="utf-8")
    assert read_columns(tmp_path / "t.csv") == ["a", "b", "label"]
    assert read_columns(Upload("r.jsonl", b'{"text": "x", "y": 1}\n{"z": 2}\n')) == [
        "text",
        "y",
        "z",
    ]
    table = load_any(tmp_path / "t.csv", "table", label_column="label")
    assert table.kind == DataKind.TABLE and table.labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="no .csv"):
        read_columns(Upload("x.png", png(1)))
