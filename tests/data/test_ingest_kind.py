import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from deepad.data import ingest
from deepad.data.ingest import infer_kind
from deepad.data.sources import Upload
from deepad.data.types import DataKind


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_a_folder_of_images_is_image_data(tmp_path):
    for i in range(2):
        folder = tmp_path / "good"
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.full((4, 4), i, np.uint8)).save(folder / f"{i}.png")
    _write(tmp_path / "readme.txt", "about these images")
    assert infer_kind(tmp_path) == (DataKind.IMAGE, "2 image files")


def test_text_files_and_text_columns_are_text_data(tmp_path):
    lines = _write(tmp_path / "docs.txt", "one line\nanother line\n")
    assert infer_kind(lines) == (DataKind.TEXT, "a .txt file, one document per line")
    _write(tmp_path / "folder" / "a.txt", "a")
    _write(tmp_path / "folder" / "b.txt", "b")
    assert infer_kind(tmp_path / "folder") == (DataKind.TEXT, "2 .txt files, one document each")
    reviews = _write(
        tmp_path / "reviews.csv",
        "id,review,label\n1,the battery lasts all day,normal\n2,it broke after a week,anomalous\n",
    )
    assert infer_kind(reviews) == (DataKind.TEXT, "text column 'review'")
    named = _write(tmp_path / "posts.jsonl", '{"text": "hi", "n": 1}\n{"text": "yo", "n": 2}\n')
    assert infer_kind(named) == (DataKind.TEXT, "text column 'text'")
    assert infer_kind(named, text_column="n").kind == DataKind.TEXT


def test_a_numeric_csv_is_table_data_even_with_a_label_column(tmp_path):
    table = _write(tmp_path / "t.csv", "a,b,c,label\n1,2,3,normal\n4,5,NA,anomalous\n")
    assert infer_kind(table) == (DataKind.TABLE, "numeric columns a, b, c")
    wide = _write(tmp_path / "w.csv", ",".join(f"x{i}" for i in range(10)) + "\n" + "1," * 9 + "1\n")
    assert infer_kind(wide).reason.endswith("x7, … (10 in all)")


def test_csv_files_in_a_folder_or_zip_and_an_id_column_are_sequence_data(tmp_path):
    for i in range(2):
        _write(tmp_path / "runs" / f"{i}.csv", "time,x,y\n0,1,2\n1,2,3\n")
    assert infer_kind(tmp_path / "runs") == (DataKind.SEQUENCE, "2 csv files, one sequence each")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"normal/{i}.csv", "x\n1\n2\n")
    assert infer_kind(Upload("runs.zip", buffer.getvalue())).kind == DataKind.SEQUENCE
    one = _write(tmp_path / "long.csv", "sequence_id,x\na,1\na,2\nb,3\n")
    assert infer_kind(one) == (DataKind.SEQUENCE, "sequence-id column 'sequence_id'")


def test_a_large_file_is_judged_by_its_first_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "INFER_SAMPLE_BYTES", 40)
    rows = "".join(f'{i},"a long review\nover two lines"\n' for i in range(20))
    big = _write(tmp_path / "big.csv", "id,body\n" + rows)
    assert infer_kind(big) == (DataKind.TEXT, "text column 'body'")


def test_a_source_without_known_files_is_an_error(tmp_path):
    _write(tmp_path / "notes.md", "# nothing to read")
    with pytest.raises(ValueError, match="no image"):
        infer_kind(tmp_path)
    words = _write(tmp_path / "w.csv", "name\nbob\nann\n")
    with pytest.raises(ValueError, match="neither a text column nor a numeric column"):
        infer_kind(words)
