"""Table ingestion: numeric columns, label columns, dropped text columns, missing values."""

from __future__ import annotations

import numpy as np
import pytest

from deepad.data import DataKind, Upload, load_table

CSV = "age,id,dose,label\n30,a1,1.5,normal\n41,b2,2.0,anomalous\n55,c3,1e-3,normal\n"


def test_numeric_csv_with_label_and_dropped_text_column():
    data = load_table(Upload("p.csv", CSV.encode()), label_column="label")
    assert data.kind == DataKind.TABLE
    assert data.columns == ["age", "dose"]
    assert data.items.dtype == np.float32 and data.items.shape == (3, 2)
    np.testing.assert_allclose(data.items, [[30, 1.5], [41, 2.0], [55, 1e-3]], rtol=1e-6)
    assert data.labels.tolist() == [0, 1, 0]
    assert data.names == ["p.csv:2", "p.csv:3", "p.csv:4"]
    [note] = data.skipped
    assert note.name == "p.csv:id" and "not numeric" in note.reason and "'a1'" in note.reason


def test_label_with_normal_label_and_no_label():
    csv = "x,kind\n1,ok\n2,ok\n3,bad\n"
    data = load_table(Upload("k.csv", csv.encode()), label_column="kind", normal_label="ok")
    assert data.labels.tolist() == [0, 0, 1] and data.classes == ["ok", "ok", "bad"]
    numeric = load_table(Upload("n.csv", b"x,y\n1,0.0\n2,4\n"), label_column="y", normal_label=0)
    assert numeric.labels.tolist() == [0, 1] and numeric.classes == ["0.0", "4"]
    unlabeled = load_table(Upload("k.csv", b"x,y\n1,2\n"))
    assert unlabeled.labels is None and unlabeled.columns == ["x", "y"]


@pytest.mark.parametrize("hole", ["", "NaN", "?", "NA"])
def test_missing_value_names_row_and_column(hole):
    csv = f"a,b\n1,2\n3,{hole}\n"
    with pytest.raises(ValueError, match=r"m\.csv: missing value in column 'b', row 2 \(line 3\)"):
        load_table(Upload("m.csv", csv.encode()))


def test_infinite_value_is_an_error():
    with pytest.raises(ValueError, match="infinite value in column 'a', row 1"):
        load_table(Upload("i.csv", b"a\ninf\n"))


def test_jsonl_table_and_missing_key():
    data = load_table(Upload("t.jsonl", b'{"a": 1, "b": true}\n{"a": 2.5, "b": false}\n'))
    np.testing.assert_array_equal(data.items, [[1, 1], [2.5, 0]])
    with pytest.raises(ValueError, match="column 'b', row 2"):
        load_table(Upload("t.jsonl", b'{"a": 1, "b": 2}\n{"a": 2}\n'))


def test_several_files_stack_when_columns_agree(tmp_path):
    (tmp_path / "1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "2.tsv").write_text("a\tb\n3\t4\n5\t6\n")
    data = load_table(tmp_path)
    np.testing.assert_array_equal(data.items, [[1, 2], [3, 4], [5, 6]])
    (tmp_path / "3.csv").write_text("a,c\n1,2\n")
    data = load_table(tmp_path)  # the columns most files share are kept
    assert len(data) == 3 and data.columns == ["a", "b"]
    assert "differ" in {s.name: s.reason for s in data.skipped}["3.csv"]
    (tmp_path / "4.csv").write_text("a,c\n1,2\n")
    data = load_table(tmp_path)  # a tie keeps the first file's columns
    assert data.columns == ["a", "b"] and {s.name for s in data.skipped} == {"3.csv", "4.csv"}


def test_gzipped_files(tmp_path):
    import gzip

    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    data = load_table(tmp_path / "t.csv.gz")
    np.testing.assert_array_equal(data.items, [[1, 2]])
    assert data.name == "t.csv" and data.names == ["t.csv.gz:2"]
    rows = load_table(Upload("r.jsonl.gz", gzip.compress(b'{"a": 1}\n{"a": 2}\n')))
    np.testing.assert_array_equal(rows.items, [[1], [2]])
    with pytest.raises(ValueError, match="bad.csv.gz: not a valid gzip file"):
        load_table(Upload("bad.csv.gz", b"a,b\n1,2\n"))


def test_headerless_numeric_csv():
    data = load_table(Upload("h.csv", b"1,2,0\n3,4,1\n"), label_column="column_3")
    assert data.columns == ["column_1", "column_2"] and data.names == ["h.csv:1", "h.csv:2"]
    np.testing.assert_array_equal(data.items, [[1, 2], [3, 4]])
    assert data.labels.tolist() == [0, 1]


def test_table_errors():
    with pytest.raises(ValueError, match="no numeric column"):
        load_table(Upload("w.csv", b"name\nx\n"))
    with pytest.raises(ValueError, match="no label column 'y'"):
        load_table(Upload("w.csv", b"a\n1\n"), label_column="y")
    with pytest.raises(ValueError, match="appears twice"):
        load_table(Upload("w.csv", b"a,a\n1,2\n"))


def test_oversized_file_is_an_error_naming_it(tmp_path, monkeypatch):
    from deepad.data import sources

    (tmp_path / "big.csv").write_text("a\n" + "1\n" * 100)
    monkeypatch.setattr(sources, "MAX_ENTRY_BYTES", 50)
    with pytest.raises(ValueError, match="big.csv: larger than 50 bytes"):
        load_table(tmp_path)
