"""ONNX export: ONNX Runtime's scores and heatmaps equal PyTorch's on the same images."""

import numpy as np
import pytest

from deepad.export import (
    PARITY_TOLERANCE,
    ExportError,
    check_parity,
    export_onnx,
    onnx_scores,
    sample_images,
    torch_scores,
)
from deepad.models.ae import Autoencoder
from deepad.models.deepsvdd import DeepSVDD
from deepad.models.fcdd import FCDD, FCDDConfig
from deepad.models.patchcore import PatchCore, PatchCoreConfig
from deepad.models.shallow import KDE

pytest.importorskip("onnxruntime")


def _images(n, side, channels, seed=0):
    shape = (n, side, side, channels) if channels > 1 else (n, side, side)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def fcdd():
    config = FCDDConfig(epochs=1, batch_size=16, device="cpu", checkpoint_every=0)
    return FCDD(config=config).fit(_images(32, 32, 3))


@pytest.fixture(scope="module")
def ae():
    config = Autoencoder.Config(epochs=1, image_size=28, device="cpu", checkpoint_every=0)
    return Autoencoder(config=config).fit(_images(32, 28, 1))


def _patchcore(reweight, upsample="nearest", stage_align="geometry"):
    config = PatchCoreConfig(
        image_size=64,
        coreset_share=0.25,
        reweight=reweight,
        upsample=upsample,
        stage_align=stage_align,
        device="cpu",
    )
    return PatchCore(config=config).fit(_images(6, 64, 3))


@pytest.fixture(scope="module")
def patchcore():
    return _patchcore(reweight=False)


@pytest.fixture(scope="module")
def patchcore_reweighted():
    return _patchcore(reweight=True)


@pytest.fixture(scope="module")
def patchcore_geometry():
    return _patchcore(reweight=False, upsample="geometry")


@pytest.fixture(scope="module")
def patchcore_bilinear():
    return _patchcore(reweight=False, upsample="bilinear", stage_align="bilinear")


@pytest.fixture(scope="module")
def deepsvdd():
    config = DeepSVDD.Config(
        epochs=1, pretrain_epochs=1, image_size=28, device="cpu", checkpoint_every=0
    )
    return DeepSVDD(config=config).fit(_images(32, 28, 1))


@pytest.mark.parametrize(
    "name",
    ["fcdd", "ae", "patchcore", "patchcore_reweighted", "patchcore_geometry", "patchcore_bilinear"],
)
def test_onnx_runtime_scores_equal_pytorch(name, request, tmp_path):
    detector = request.getfixturevalue(name)
    exported = export_onnx(detector, tmp_path / f"{name}.onnx")
    images = sample_images(detector, n=5, seed=1)  # another batch size than the export's
    assert check_parity(detector, exported.path, images) <= PARITY_TOLERANCE
    ort_score, ort_map = onnx_scores(exported.path, images)
    pt_score, pt_map = torch_scores(detector, images)
    side = exported.input_shape[-1]
    assert ort_map.shape == (5, side, side)
    np.testing.assert_allclose(ort_map, pt_map, rtol=1e-3, atol=1e-5 * np.abs(pt_map).max())
    np.testing.assert_allclose(ort_score, pt_score, rtol=PARITY_TOLERANCE)


@pytest.mark.parametrize("name", ["fcdd", "patchcore", "patchcore_geometry", "patchcore_bilinear"])
def test_exported_heatmap_is_the_explained_one(name, request):
    detector = request.getfixturevalue(name)
    images = sample_images(detector, n=3)
    _, amap = torch_scores(detector, images)
    explained = detector.explain([np.moveaxis(i, 0, -1) for i in images]).maps
    np.testing.assert_allclose(amap, explained, rtol=1e-3, atol=1e-6 * np.abs(explained).max())


def test_patchcore_export_flags_the_pasted_square(patchcore, tmp_path):
    """The exported graph, not only the PyTorch one, scores a white square on noise higher
    than plain noise, and its map peaks on the square."""
    exported = export_onnx(patchcore, tmp_path / "patchcore.onnx")
    images = sample_images(patchcore, n=4, seed=3)
    images[2:, :, 20:36, 20:36] = 255
    score, amap = onnx_scores(exported.path, images)
    assert score[2:].min() > score[:2].max()
    peak = np.unravel_index(np.argmax(amap[2]), amap[2].shape)
    assert 14 <= peak[0] < 42 and 14 <= peak[1] < 42


def test_deepsvdd_graph_returns_its_score(deepsvdd, tmp_path):
    exported = export_onnx(deepsvdd, tmp_path / "deepsvdd.onnx")
    images = sample_images(deepsvdd, n=5, seed=1)
    assert exported.input_shape == (1, 28, 28) and exported.outputs == ("score",)
    assert check_parity(deepsvdd, exported.path, images) <= PARITY_TOLERANCE
    ort_score, ort_map = onnx_scores(exported.path, images)
    assert ort_map is None and ort_score.shape == (5,)


def test_non_image_detector_is_refused(tmp_path):
    table = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ExportError):
        export_onnx(KDE().fit(table), tmp_path / "x.onnx")


def test_cli_exports_a_finished_run(tmp_path, capsys):
    from PIL import Image

    from deepad.cli import main

    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(_images(12, 16, 3)):
        Image.fromarray(image).save(folder / f"{i}.png")
    home = str(tmp_path / "home")
    settings = ["--set", "epochs=1", "--set", "image_size=16", "--set", "device=cpu"]
    assert main(["--home", home, "train", "--method", "ae", "--data", str(folder), *settings]) == 0
    output = tmp_path / "ae.onnx"
    assert main(["--home", home, "export", "1", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert output.is_file() and "exported to" in out and "relative score difference" in out
    assert main(["--home", home, "export", "2"]) == 2  # no such run: one line, exit 2


def test_the_exporter_knows_no_method_by_name():
    """A method's export lives in its own folder (its inference graph): the generic exporter
    names none of them, and lists as exportable exactly the detectors that give a graph."""
    import re
    from pathlib import Path

    import deepad.export as export
    from deepad.models.registry import catalog, get_method

    source = Path(export.__file__).read_text()
    for entry in catalog():
        for word in {entry.name, entry.title, get_method(entry.name).__name__}:
            assert not re.search(rf"\b{re.escape(word)}\b", source, re.IGNORECASE), word
    exportable = export.exportable_methods()
    assert exportable == ["ae", "deepsad", "deepsvdd", "fcdd", "hsc", "patchcore"]
    for name in exportable:
        folder = get_method(name).__module__.rsplit(".", 1)[0]
        assert get_method(name).inference_graph.__module__.startswith(folder), name
