"""Text ingestion: line files, folders of documents, csv/jsonl columns, labels, encodings."""

from __future__ import annotations

import codecs
import io
import zipfile

import pytest

from deepad.data import DataKind, TextEncodingError, Upload, load_texts


def test_txt_file_is_one_document_per_line_with_or_without_bom(tmp_path):
    body = "first doc\r\n\n  second doc  \nthird\n"
    (tmp_path / "plain.txt").write_text(body, encoding="utf-8", newline="")
    (tmp_path / "bom.txt").write_bytes(codecs.BOM_UTF8 + body.encode())
    plain = load_texts(tmp_path / "plain.txt")
    bom = load_texts(Upload("bom.txt", (tmp_path / "bom.txt").read_bytes()))
    assert plain.kind == DataKind.TEXT
    assert plain.items == ["first doc", "second doc", "third"] == bom.items
    assert plain.names == ["plain.txt:1", "plain.txt:3", "plain.txt:4"]
    assert plain.labels is None and plain.name == "plain"


def test_invalid_utf8_names_file_and_byte_offset():
    data = "héllo\nok".encode() + b"\xff\xfe" + b"rest"
    with pytest.raises(TextEncodingError, match=r"bad\.txt.*0xff at byte offset 9"):
        load_texts(Upload("bad.txt", data))
    latin1 = codecs.BOM_UTF8 + b"text\n" + "café".encode("latin-1")
    with pytest.raises(TextEncodingError, match=r"l\.csv.*0xe9 at byte offset 11"):
        load_texts(Upload("l.csv", latin1))


def test_folder_of_txt_files_with_labeled_layout(tmp_path):
    for rel, body in {
        "normal/a.txt": "a normal document\nwith two lines",
        "normal/b.txt": "another normal one",
        "anomalous/spam/c.txt": "buy now",
        "anomalous/d.txt": "odd",
        "empty.txt": "  \n",
        "notes.md": "# not text input",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body, encoding="utf-8")
    data = load_texts(tmp_path)
    docs = dict(zip(data.names, data.items, strict=True))
    assert docs["normal/a.txt"] == "a normal document\nwith two lines"
    labels = dict(
        zip(data.names, zip(data.labels.tolist(), data.classes, strict=True), strict=True)
    )
    assert labels == {
        "anomalous/d.txt": (1, "anomalous"),
        "anomalous/spam/c.txt": (1, "spam"),
        "normal/a.txt": (0, "normal"),
        "normal/b.txt": (0, "normal"),
    }
    assert {s.name: s.reason for s in data.skipped} == {
        "empty.txt": "empty text",
        "notes.md": "not a text file (.txt, .csv, .tsv or .jsonl)",
    }


def test_zip_of_unlabeled_txt_files():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("docs/1.txt", "one")
        zf.writestr("docs/2.txt", "two")
    data = load_texts(Upload("docs.zip", buffer.getvalue()))
    assert data.items == ["one", "two"] and data.labels is None


CSV = 'id;body;topic\n1;"wheat prices, up";grain\n2;"oil\nfalls";crude\n3;;grain\n4;corn;\n'


def test_csv_with_text_and_class_label_columns():
    data = load_texts(
        Upload("news.csv", CSV.encode()),
        text_column="body",
        label_column="topic",
        normal_label="grain",
    )
    assert data.items == ["wheat prices, up", "oil\nfalls", "corn"]
    assert data.labels.tolist() == [0, 1, -1]
    assert data.classes == ["grain", "crude", "unknown"]
    assert data.names == ["news.csv:2", "news.csv:3", "news.csv:6"]
    assert [(s.name, s.reason) for s in data.skipped] == [("news.csv:5", "empty text")]


def test_label_words_and_numbers_without_normal_label():
    jsonl = (
        '{"text": "a", "y": 0}\n{"text": "b", "y": 1}\n'
        '{"text": "c", "y": "Anomalous"}\n{"text": "d", "y": "normal"}\n{"text": "e"}\n'
    )
    data = load_texts(Upload("d.jsonl", jsonl.encode()), label_column="y")
    assert data.labels.tolist() == [0, 1, 1, 0, -1]
    assert data.classes == ["normal", "anomalous", "anomalous", "normal", "unknown"]


def test_label_errors_are_explicit():
    with pytest.raises(ValueError, match="normal_label"):
        load_texts(Upload("n.csv", CSV.encode()), text_column="body", label_column="topic")
    with pytest.raises(ValueError, match="'sports' does not occur"):
        load_texts(
            Upload("n.csv", CSV.encode()),
            text_column="body",
            label_column="topic",
            normal_label="sports",
        )
    with pytest.raises(ValueError, match="choose a text column"):
        load_texts(Upload("n.csv", CSV.encode()))
    with pytest.raises(ValueError, match="no column 'txt'"):
        load_texts(Upload("n.csv", CSV.encode()), text_column="txt")
    with pytest.raises(ValueError, match="x.jsonl: no readable line; e.g. line 1 is not a JSON"):
        load_texts(Upload("x.jsonl", b"[1, 2]\n"))
    with pytest.raises(ValueError, match="line 3 has 2 fields"):
        load_texts(Upload("x.csv", b"text\na\nb,c\n"))


def test_text_column_defaults():
    data = load_texts(Upload("one.csv", b"sentence\nhello\nworld\n"))
    assert data.items == ["hello", "world"]
    data = load_texts(Upload("t.jsonl", b'{"id": 1, "text": "x"}\n'))
    assert data.items == ["x"]


def test_long_csv_fields_and_malformed_quotes():
    long_doc = "word " * 60_000  # 300 kB, over the csv module's default field cap
    data = load_texts(Upload("long.csv", f'text\n"{long_doc}"\n'.encode()))
    assert data.items == [long_doc.strip()]
    with pytest.raises(ValueError, match=r"q\.csv: line \d"):
        load_texts(Upload("q.csv", b'text\n"a"b"\n'), text_column="text")
