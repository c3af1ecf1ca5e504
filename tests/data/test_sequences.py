import io
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest

from deepad.data.sequences import load_sequences
from deepad.data.types import DataKind


@dataclass
class FakeUpload:  # the shape of deepad.data.sources.Upload
    name: str
    data: bytes


def _csv(rows, header="time,a,b"):
    lines = [header] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def test_folder_layout_gives_labels_classes_and_drops_time(tmp_path):
    (tmp_path / "normal").mkdir()
    (tmp_path / "anomalous" / "spike").mkdir(parents=True)
    (tmp_path / "normal" / "s1.csv").write_bytes(_csv([(0, 1.0, 2.0), (1, 1.5, 2.5)]))
    (tmp_path / "normal" / "s2.csv").write_bytes(_csv([(0, 0.0, 0.0)]))
    (tmp_path / "anomalous" / "spike" / "s3.csv").write_bytes(_csv([(0, 9.0, 9.0)] * 3))
    (tmp_path / "notes.txt").write_text("hello")
    data = load_sequences(tmp_path)
    assert data.kind == DataKind.SEQUENCE
    assert data.columns == ["a", "b"]
    assert [x.shape for x in data.items] == [(3, 2), (2, 2), (1, 2)]
    assert data.names == ["anomalous/spike/s3", "normal/s1", "normal/s2"]
    assert data.labels.tolist() == [1, 0, 0]
    assert data.classes == ["spike", "normal", "normal"]
    np.testing.assert_allclose(data.items[1], [[1.0, 2.0], [1.5, 2.5]])
    assert [s.name for s in data.skipped] == ["notes.txt"]


def test_flat_folder_has_no_labels_and_headerless_files_get_column_names(tmp_path):
    (tmp_path / "x.csv").write_bytes(_csv([(1, 2), (3, 4)], header=None))
    data = load_sequences(tmp_path)
    assert data.labels is None and data.columns == ["c0", "c1"]


def test_one_csv_with_id_and_label_columns():
    text = _csv(
        [
            ("u1", 0, 1.0, "normal"),
            ("u2", 0, 5.0, "anomalous"),
            ("u1", 1, 2.0, "normal"),
            ("u3", 0, 1.0, "maybe"),
        ],
        header="unit,step,value,state",
    )
    data = load_sequences(FakeUpload("units.csv", text), id_column="unit", label_column="state")
    assert data.names == ["units/u1", "units/u2"]
    assert data.columns == ["value"]
    np.testing.assert_allclose(data.items[0][:, 0], [1.0, 2.0])
    assert data.labels.tolist() == [0, 1]
    assert [s.name for s in data.skipped] == ["units/u3"]
    assert "label" in data.skipped[0].reason


def test_sequence_id_column_is_found_without_being_named():
    text = _csv([(7, 1.0), (7, 2.0), (8, 3.0)], header="sequence_id,v")
    data = load_sequences(FakeUpload("s.csv", text))
    assert [len(x) for x in data.items] == [2, 1]


def test_zip_upload_and_bad_files_are_reported():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("set/normal/a.csv", _csv([(0, 1.0, 2.0)]))
        archive.writestr("set/normal/b.csv", _csv([(0, "x", 2.0)]))
        archive.writestr("set/normal/c.csv", b"time,a\n0,1\n")
        archive.writestr("__MACOSX/._a.csv", b"junk")
    uploads = [FakeUpload("set.zip", buffer.getvalue()), FakeUpload("broken.zip", b"nope")]
    data = load_sequences(uploads)
    assert data.names == ["set/normal/a"]
    reasons = {s.name: s.reason for s in data.skipped}
    assert "not a number" in reasons["set/normal/b"]
    assert "differ" in reasons["set/normal/c"]
    assert "zip" in reasons["broken.zip"]


def test_label_must_be_constant_within_a_sequence():
    text = _csv([(1, 1.0, 0), (1, 2.0, 1)], header="sequence_id,v,label")
    data = load_sequences(FakeUpload("s.csv", text), label_column="label")
    assert len(data) == 0 and "changes" in data.skipped[0].reason


def test_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_sequences(tmp_path / "nothing")
