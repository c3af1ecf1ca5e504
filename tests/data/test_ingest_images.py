"""Image ingestion: formats, colour modes, bombs, broken files and labeled layouts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepad.data import Upload, load_images, split_train_test
from deepad.data.images import decode_image, detect_layout


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gray(value: int, size: tuple[int, int] = (6, 4)) -> Image.Image:
    return Image.new("L", size, value)


def write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_round_trip_gray_and_rgb(fmt):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    out = decode_image(encode(Image.fromarray(rgb), fmt, **kwargs))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, rgb)
    if fmt != "WEBP":  # WebP has no gray mode; it stores gray as RGB
        g = rgb[..., 0]
        np.testing.assert_array_equal(decode_image(encode(Image.fromarray(g), fmt)), g)


def test_jpeg_decodes_to_original_size_and_close_values():
    out = decode_image(encode(Image.new("RGB", (9, 5), (200, 40, 90)), "JPEG", quality=95))
    assert out.shape == (5, 9, 3)
    assert np.abs(out.astype(int) - [200, 40, 90]).max() < 6


def test_jpeg_exif_orientation_is_applied():
    image = Image.new("L", (8, 3), 50)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    out = decode_image(encode(image, "JPEG", exif=exif))
    assert out.shape == (8, 3)


def test_modes_become_8bit_gray_or_rgb():
    la = Image.merge("LA", [Image.new("L", (2, 2), 200), Image.new("L", (2, 2), 128)])
    rgba = Image.new("RGBA", (2, 2), (255, 100, 0, 51))
    gray_palette = Image.new("L", (2, 2), 77).convert("P")
    colour_palette = Image.new("RGB", (2, 2), (255, 0, 0)).convert("P")
    transparent = Image.new("P", (2, 2), 0)
    transparent.putpalette([10, 20, 30] * 256)
    transparent.info["transparency"] = 0
    bilevel = Image.new("1", (2, 2), 1)
    cmyk = Image.new("CMYK", (2, 2), (0, 0, 0, 0))

    assert decode_image(encode(la)).tolist() == [[100, 100], [100, 100]]  # 200*128/255
    np.testing.assert_array_equal(decode_image(encode(rgba))[0, 0], [51, 20, 0])  # on black
    out = decode_image(encode(gray_palette))
    assert out.shape == (2, 2) and out[0, 0] == 77
    np.testing.assert_array_equal(decode_image(encode(colour_palette))[1, 1], [255, 0, 0])
    np.testing.assert_array_equal(decode_image(encode(transparent)), np.zeros((2, 2), np.uint8))
    assert decode_image(encode(bilevel)).tolist() == [[255, 255], [255, 255]]
    np.testing.assert_array_equal(decode_image(encode(cmyk, "TIFF"))[0, 0], [255, 255, 255])


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_gray_is_divided_by_257(fmt):
    values = np.array([[0, 257, 65535], [32896, 1000, 128]], np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    out = decode_image(encode(image, fmt))
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 1, 255], [128, 4, 0]]


def test_32bit_int_and_float_images():
    wide = Image.fromarray(np.array([[0, 65535]], np.int32))
    assert wide.mode == "I"
    assert decode_image(encode(wide, "TIFF")).tolist() == [[0, 255]]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert decode_image(encode(unit, "TIFF")).tolist() == [[0, 128, 255]]
    ranged = Image.fromarray(np.array([[-2.0, 0.0, 2.0]], np.float32))
    assert decode_image(encode(ranged, "TIFF")).tolist() == [[0, 128, 255]]


def test_decompression_bomb_is_skipped_with_reason(tmp_path, monkeypatch):
    write(tmp_path, "small.png", encode(gray(1, (4, 4))))
    write(tmp_path, "big.png", encode(gray(1, (25, 25))))  # warned by Pillow
    write(tmp_path, "huge.png", encode(gray(1, (100, 100))))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.warns(Image.DecompressionBombWarning):
        data = load_images(tmp_path)
    assert data.names == ["small.png"]
    reasons = {s.name: s.reason for s in data.skipped}
    assert set(reasons) == {"big.png", "huge.png"}
    assert "decompression" in reasons["big.png"] and "decompression" in reasons["huge.png"]


def test_broken_non_image_and_hidden_files(tmp_path):
    good = encode(gray(9))
    noise = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    whole = encode(Image.fromarray(noise))
    write(tmp_path, "a.png", good)
    write(tmp_path, "cut.png", whole[: len(whole) // 2])
    write(tmp_path, "fake.jpg", b"this is not a jpeg")
    write(tmp_path, "notes.txt", b"hello")
    write(tmp_path, "anim.gif", b"GIF89a")
    write(tmp_path, ".hidden.png", good)
    write(tmp_path, ".git/x.png", good)
    write(tmp_path, "__MACOSX/._a.png", b"resource fork")
    data = load_images(tmp_path)
    assert data.names == ["a.png"] and data.labels is None and data.classes is None
    reasons = {s.name: s.reason for s in data.skipped}
    assert set(reasons) == {"cut.png", "fake.jpg", "notes.txt", "anim.gif"}
    assert reasons["anim.gif"].startswith("unsupported image type .gif")
    assert reasons["notes.txt"] == "not an image"
    assert "truncated" in reasons["cut.png"]
    assert "cannot identify" in reasons["fake.jpg"]


def test_flat_folder_keeps_original_sizes(tmp_path):
    write(tmp_path, "x/1.png", encode(gray(3, (10, 4))))
    write(tmp_path, "y/2.png", encode(Image.new("RGB", (3, 7))))
    data = load_images(tmp_path, name="mine")
    assert data.name == "mine" and data.labels is None
    assert [im.shape for im in data.items] == [(4, 10), (7, 3, 3)]


def test_normal_anomalous_layout_with_masks(tmp_path):
    write(tmp_path, "normal/n1.png", encode(gray(1)))
    write(tmp_path, "normal/n2.png", encode(gray(2)))
    write(tmp_path, "anomalous/scratch/s1.png", encode(gray(3)))
    write(tmp_path, "anomalous/scratch/s2.png", encode(gray(4)))
    write(tmp_path, "anomalous/hole/h1.png", encode(gray(5)))
    write(tmp_path, "anomalous/loose.png", encode(gray(6)))
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:5] = 255
    write(tmp_path, "ground_truth/scratch/s1.png", encode(Image.fromarray(mask)))
    small = np.zeros((2, 3), np.uint8)
    small[0, 0] = 1  # a 0/1 mask at half size: binarised with > 0, then resized nearest
    write(tmp_path, "ground_truth/hole/h1_mask.png", encode(Image.fromarray(small)))
    write(tmp_path, "ground_truth/hole/orphan.png", encode(Image.fromarray(mask)))
    data = load_images(tmp_path)
    by_name = dict(zip(data.names, range(len(data)), strict=True))
    assert len(data) == 6
    expect = {
        "normal/n1.png": (0, "normal"),
        "anomalous/scratch/s1.png": (1, "scratch"),
        "anomalous/hole/h1.png": (1, "hole"),
        "anomalous/loose.png": (1, "anomalous"),
    }
    for name, (label, cls) in expect.items():
        assert (data.labels[by_name[name]], data.classes[by_name[name]]) == (label, cls)
    s1 = data.masks[by_name["anomalous/scratch/s1.png"]]
    np.testing.assert_array_equal(s1, (mask > 0).astype(np.uint8))
    h1 = data.masks[by_name["anomalous/hole/h1.png"]]
    assert h1.shape == (4, 6) and h1.dtype == np.uint8 and h1[:2, :2].all() and h1.sum() == 4
    assert data.masks[by_name["anomalous/scratch/s2.png"]] is None
    assert data.masks[by_name["normal/n1.png"]] is None
    assert [s.name for s in data.skipped] == ["ground_truth/hole/orphan.png"]


def test_mvtec_layout_in_a_wrapped_zip_and_train_test_split():
    members = {
        "bottle/train/good/000.png": encode(gray(1)),
        "bottle/train/good/001.png": encode(gray(2)),
        "bottle/test/good/000.png": encode(gray(3)),
        "bottle/test/broken_large/000.png": encode(gray(4)),
        "bottle/test/contamination/000.png": encode(gray(5)),
        "bottle/ground_truth/broken_large/000_mask.png": encode(gray(255)),
        "bottle/ground_truth/contamination/000_mask.png": encode(gray(0)),
        "bottle/license.txt": b"CC BY-NC-SA 4.0",
    }
    buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    data = load_images(Upload("bottle.zip", buffer.getvalue()))
    assert data.name == "bottle"
    labels = dict(zip(data.names, data.labels.tolist(), strict=True))
    assert labels == {
        "bottle/train/good/000.png": 0,
        "bottle/train/good/001.png": 0,
        "bottle/test/good/000.png": 0,
        "bottle/test/broken_large/000.png": 1,
        "bottle/test/contamination/000.png": 1,
    }
    masks = dict(zip(data.names, data.masks, strict=True))
    assert masks["bottle/train/good/000.png"] is None  # same stem, but a normal image
    assert masks["bottle/test/broken_large/000.png"].all()
    assert not masks["bottle/test/contamination/000.png"].any()
    assert [s.reason for s in data.skipped] == ["not an image"]
    train, test = split_train_test(data)
    assert split_train_test(train) is None and split_train_test(test) is None
    assert len(train) == 2 and (train.labels == 0).all()
    assert len(test) == 3 and test.labels.tolist() == [0, 1, 1]


def test_single_mvtec_split_with_good_folder(tmp_path):
    write(tmp_path, "Good/0.png", encode(gray(1)))
    write(tmp_path, "crack/0.png", encode(gray(2)))
    write(tmp_path, "loose.png", encode(gray(3)))
    data = load_images(tmp_path)
    assert dict(zip(data.names, data.labels.tolist(), strict=True)) == {
        "crack/0.png": 1,
        "Good/0.png": 0,
        "loose.png": -1,
    }


def test_layout_detection_does_not_strip_layout_folders():
    placed = detect_layout(["normal/a.png", "normal/b.png"])
    assert [p.label for p in placed] == [0, 0]
    assert [p.label for p in detect_layout(["wrap/x/a.png", "wrap/y/b.png"])] == [None, None]


def test_folder_layout_aliases():
    placed = detect_layout(["good/a.png", "Abnormal/cut/b.png", "anomaly/c.png", "x/d.png"])
    assert [(p.label, p.cls) for p in placed] == [
        (0, "good"),
        (1, "cut"),
        (1, "anomalous"),
        (-1, "unknown"),
    ]
