"""Ingesting content that is stored already reports this upload (its name, what it held and
what it refused), not the upload that stored the content first."""

import io
import zipfile

import numpy as np
from PIL import Image

from deepad.cli import main
from deepad.service import Service


def png(value):
    out = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(out, format="PNG")
    return out.getvalue()


def archive(extra):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in range(4):
            z.writestr(f"img{i}.png", png(40 * i))
        for name, data in extra.items():
            z.writestr(name, data)
    return out.getvalue()


def test_second_upload_of_known_content_reports_its_own_refusals(tmp_path):
    svc = Service(tmp_path / "home")
    first = svc.ingest([("first.zip", archive({"notes.txt": b"hello"}))], "image", name="first")
    assert [s.name for s in first.dataset.skipped] == ["notes.txt"]
    assert first.known_as is None

    hostile = {"../../escape.png": png(1), "broken.png": b"\x89PNG\r\n\x1a\n garbage"}
    second = svc.ingest([("second.zip", archive(hostile))], "image", name="second")
    assert second.record.id == first.record.id  # same items: the stored dataset is reused
    assert second.known_as == "first"
    assert second.record.name == "second"
    refused = {e["name"] for e in second.record.manifest["skipped"]}
    assert "broken.png" in refused and any("escape.png" in n for n in refused)
    assert "notes.txt" not in refused
    assert {s.name for s in second.dataset.skipped} == refused


def test_cli_ingest_of_known_content_prints_this_upload(tmp_path, capsys):
    home = tmp_path / "home"
    (tmp_path / "a.zip").write_bytes(archive({"notes.txt": b"hello"}))
    (tmp_path / "b.zip").write_bytes(archive({"broken.png": b"\x89PNG\r\n\x1a\n garbage"}))
    assert main(["--home", str(home), "ingest", str(tmp_path / "a.zip"), "--kind", "image"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "ingest", str(tmp_path / "b.zip"), "--kind", "image"]) == 0
    out = capsys.readouterr().out
    assert "stored before as a;" in out and "  b  " in out
    assert "broken.png" in out and "notes.txt" not in out
