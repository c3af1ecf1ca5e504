"""A broken JSONL line costs that line (skipped and named), a number too long to read names
its file and line, a truncated zip says it is damaged, and the CLI escapes terminal control
characters in dataset names."""

import io
import zipfile

import pytest

from deepad.cli import main
from deepad.data.ingest import load_images, load_texts
from deepad.data.sources import Upload


def test_a_broken_jsonl_line_is_skipped_and_named():
    data = load_texts(
        Upload("docs.jsonl", b'{"text": "first"}\n{"text": "broken\n{"text": "third"}\n')
    )
    assert data.items == ["first", "third"]
    assert [s.name for s in data.skipped] == ["docs.jsonl:2"]
    assert data.skipped[0].reason.startswith("is not JSON (")


def test_a_five_thousand_digit_integer_names_the_file_and_line():
    big = b'{"text": "x", "n": ' + b"7" * 5000 + b"}\n"
    data = load_texts(Upload("n.jsonl", b'{"text": "ok"}\n' + big))
    assert data.items == ["ok"]
    assert data.skipped[0].name == "n.jsonl:2" and "digits" in data.skipped[0].reason
    with pytest.raises(ValueError, match=r"n\.jsonl: no readable line; e\.g\. line 1 .*digits"):
        load_texts(Upload("n.jsonl", big))


def test_a_truncated_zip_says_the_archive_is_damaged():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(3):
            archive.writestr(f"img{i}.png", b"\x89PNG" + bytes(200))
    cut = out.getvalue()[: len(out.getvalue()) // 2]
    data = load_images(Upload("photos.zip", cut))
    assert "damaged or truncated" in data.skipped[0].reason


def test_cli_escapes_terminal_control_characters_in_names(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    name = "\x1b]0;owned\x07\x1b[31mred"
    home = str(tmp_path / "home")
    assert main(["--home", home, "ingest", str(tmp_path / "t.csv"), "--name", name]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[31mred" in out
    from deepad.runs.store import RunStore

    dataset = out.split()[1]
    store = RunStore(home)
    store.note_dataset(dataset, name=name, kind="table", count=2)
    store.create_run("kde", {}, dataset)
    assert main(["--home", home, "runs", "list"]) == 0
    listed = capsys.readouterr().out
    assert "\x1b" not in listed and "\\x1b" in listed
