"""Hostile inputs through the ingest the app and the CLI use: skipped with a reason, the good
files beside them kept, nothing hangs and nothing non-finite gets in."""

import io
import os
import random
import threading

import numpy as np
import pytest
from PIL import Image

from deepad.bench import reliability
from deepad.data import images, text
from deepad.data.ingest import load_any, load_images, load_table, load_texts
from deepad.data.sequences import load_sequences
from deepad.data.sources import Upload


def png(shape, value=0):
    out = io.BytesIO()
    Image.fromarray(np.full(shape, value, np.uint8)).save(out, format="PNG")
    return out.getvalue()


def reasons(data):
    return {s.name: s.reason for s in data.skipped}


@pytest.mark.parametrize("value", ["1e39", "-1e39", "3.5e38"])
def test_values_beyond_float32_are_an_error_naming_the_place(value):
    with pytest.raises(
        ValueError, match=r"t\.csv: value beyond float32's range .* in column 'a', row 2"
    ):
        load_table(Upload("t.csv", f"a,b\n1,2\n{value},3\n".encode()))
    data = load_sequences(Upload("s.csv", f"x,y\n1,2\n{value},3\n".encode()))
    assert len(data) == 0 and "float32" in data.skipped[0].reason


def test_a_bad_table_beside_good_ones_is_skipped_and_header_only_says_so(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    (tmp_path / "b.csv").write_text("a,b\n1e39,2\n")
    (tmp_path / "c.csv").write_text("a,b\n")
    data = load_table(tmp_path)
    assert data.names == ["a.csv:2"]
    assert "float32" in reasons(data)["b.csv"] and "no rows" in reasons(data)["c.csv"]
    with pytest.raises(ValueError, match="a header and no rows"):
        load_table(Upload("h.csv", b"a,b\n"))


def test_special_files_and_links_out_of_the_folder_are_not_read(tmp_path):
    folder, outside = tmp_path / "in", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours")
    (folder / "good.txt").write_text("fine")
    (folder / "inside.txt").symlink_to(folder / "good.txt")
    (folder / "out.txt").symlink_to(outside / "secret.txt")
    (folder / "dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "pipe.txt")
    result = {}
    worker = threading.Thread(target=lambda: result.update(data=load_texts(folder)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "a FIFO blocked the load"
    data = result["data"]
    assert sorted(data.items) == ["fine", "fine"]
    why = reasons(data)
    assert (
        "FIFO" in why["pipe.txt"] and "outside" in why["out.txt"] and "not followed" in why["dir"]
    )
    with pytest.raises(ValueError, match="not a regular file"):
        load_texts(folder / "pipe.txt")


def test_names_that_are_not_utf8_are_skipped_and_control_characters_escaped(tmp_path):
    (tmp_path / os.fsdecode(b"bad\xff.txt")).write_text("x")
    (tmp_path / "\x1b[31mred.txt").write_text("y")
    (tmp_path / "good.txt").write_text("z")
    data = load_texts(tmp_path)
    assert data.names == ["\\x1b[31mred.txt", "good.txt"]
    assert any("not valid UTF-8" in s.reason for s in data.skipped)
    assert all(s.name.isprintable() for s in data.skipped)
    lines = b'{"text": "ok"}\n{"text": "\\ud800"}\n{"text": "fine"}\n'
    data = load_texts(Upload("s.jsonl", lines))
    assert data.items == ["ok", "fine"] and "surrogate" in reasons(data)["s.jsonl:2"]


def test_decoded_pixels_are_capped_per_image_and_per_upload(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS_PER_IMAGE", 10_000)
    monkeypatch.setattr(images, "MAX_DECODED_BYTES", 25_000)
    uploads = [Upload("huge.png", png((200, 200)))]
    uploads += [Upload(f"m{i}.png", png((90, 90))) for i in range(4)]
    data = load_images(uploads)
    assert data.names == ["m0.png", "m1.png", "m2.png"]
    why = reasons(data)
    assert "limit of 10000 pixels" in why["huge.png"] and "over" in why["m3.png"]


def test_decoded_text_is_capped_per_upload(monkeypatch):
    monkeypatch.setattr(text, "MAX_TEXT_CHARS", 100)
    data = load_texts([Upload("a.txt", b"x" * 60), Upload("b.txt", b"y" * 60)])
    assert data.items == ["x" * 60] and "100 characters" in reasons(data)["b.txt"]
    monkeypatch.setattr(text, "MAX_RECORD_CELLS", 10)
    with pytest.raises(ValueError, match="more than 10 cells"):
        load_table(Upload("c.csv", b"a,b\n" + b"1,2\n" * 6))


def test_sequences_keep_the_columns_most_files_have():
    good = [Upload(f"g{i}.csv", b"x,y\n1,2\n3,4\n") for i in range(4)]
    data = load_sequences([Upload("a_odd.csv", b"p,q,r\n1,2,3\n"), *good])
    assert data.names == ["g0", "g1", "g2", "g3"] and data.columns == ["x", "y"]
    assert "differ" in reasons(data)["a_odd"]


def test_a_mask_of_another_aspect_ratio_is_refused():
    files = [
        Upload("normal/n.png", png((32, 32))),
        Upload("anomalous/cut/x.png", png((32, 32))),
        Upload("ground_truth/cut/x_mask.png", png((7, 300), 255)),
        Upload("anomalous/cut/y.png", png((32, 32))),
        Upload("ground_truth/cut/y_mask.png", png((64, 64), 255)),
    ]
    data = load_images(files)
    masks = dict(zip(data.names, data.masks, strict=True))
    assert masks["anomalous/cut/x.png"] is None and masks["anomalous/cut/y.png"].shape == (32, 32)
    assert "300x7" in reasons(data)["ground_truth/cut/x_mask.png"]


def test_a_seeded_sample_of_the_bench_inputs(tmp_path):
    """The light templates of the reliability bench, in every mode, at its scaled-down limits."""
    cases, seen = [], set()
    for case in reliability.generate(seed=1, count=230, heavy=False):
        key = (case.kind, case.label, case.mode)
        if key not in seen:
            seen.add(key)
            cases.append(case)
    tally = reliability.Tally()
    rng = random.Random(0)
    with reliability.limits():
        for i, case in enumerate(cases):
            folder = tmp_path / f"c{i}"
            folder.mkdir()
            reliability.run_case(case, folder, rng, tally, scorers={})
    assert tally.inputs > 100
    assert tally.crashes == [] and tally.silent_nan == [] and tally.lost == []


def test_the_wrong_kind_for_the_data_type_is_skipped_not_fatal():
    data = load_any([Upload("a.csv", b"a,b\n1,2\n"), Upload("p.png", png((4, 4)))], "table")
    assert len(data) == 1 and "not a table" in reasons(data)["p.png"]
