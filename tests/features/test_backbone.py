"""The pretrained backbone: stage geometry against input gradients, sizes, extraction, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepad.data.types import DataKind, Dataset
from deepad.features import (
    STAGE_CHANNELS,
    FeatureCache,
    extract_features,
    input_side,
    nearest_distances,
    pretrained_backbone,
)
from deepad.features.backbone import StageGeometry
from deepad.features.resample import interpolation_matrix


@pytest.mark.parametrize("side", [48, 49])
@pytest.mark.parametrize("stage", ["s2", "s4", "s8"])
def test_gradient_support_of_a_cell_lies_inside_its_stated_field(stage, side):
    network = pretrained_backbone()
    geometry = network.geometry(side)[stage]
    x = torch.randn(1, 3, side, side, requires_grad=True)
    out = network(x, (stage,))[stage]
    assert out.shape[-1] == geometry.cells(side)
    cell = out.shape[-1] // 2
    out[0, :, cell, cell].sum().backward()
    touched = np.flatnonzero(x.grad.abs().sum(dim=(0, 1, 2)).numpy() > 0)
    centre = geometry.offset + cell * geometry.stride
    half = (geometry.field - 1) / 2
    assert touched.size, "the cell depends on no input pixel"
    assert touched.min() >= centre - half and touched.max() <= centre + half
    # the stated field is not loose: the gradient reaches most of it
    assert touched.max() - touched.min() + 1 >= min(side, geometry.field) - geometry.stride


def test_stage_geometry_follows_the_layers():
    g = StageGeometry(stride=1, field=1).then(3, 2, padding=0)
    assert g == StageGeometry(stride=2, field=3, offset=1.0)
    assert g.then(3).field == 7 and g.then(3).offset == 1.0
    geometry = pretrained_backbone().geometry(224)
    assert [geometry[s].stride for s in ("s2", "s4", "s8", "s16", "s32")] == [2, 4, 8, 16, 32]


def test_any_size_gives_the_stated_grid_and_channels():
    network = pretrained_backbone()
    with torch.inference_mode():
        out = network(torch.zeros(1, 3, 37, 50), ("s8", "s16"))
    for stage in ("s8", "s16"):
        g = network.geometry(37)[stage]
        assert out[stage].shape[1:] == (
            STAGE_CHANNELS[stage],
            g.cells(37),
            network.geometry(50)[stage].cells(50),
        )


def _images(n: int, side: int = 20, gray: bool = True) -> Dataset:
    rng = np.random.default_rng(0)
    shape = (side, side) if gray else (side, side, 3)
    items = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]
    return Dataset(DataKind.IMAGE, items, [str(i) for i in range(n)])


def test_gray_is_repeated_to_rgb_and_features_are_cached():
    gray = _images(3)
    rgb = Dataset(
        DataKind.IMAGE, [np.repeat(im[..., None], 3, -1) for im in gray.items], gray.names
    )
    cache = FeatureCache()
    a = extract_features(gray, stages=("s8",), image_size=32, device="cpu", cache=cache)
    b = extract_features(rgb, stages=("s8",), image_size=32, device="cpu", cache=cache)
    torch.testing.assert_close(a["s8"], b["s8"])
    assert len(cache) == 2
    assert extract_features(gray, stages=("s8",), image_size=32, device="cpu", cache=cache) is a
    pooled = extract_features(gray, stages=("head",), image_size=32, pooled=True, cache=cache)
    assert pooled["head"].shape == (3, STAGE_CHANNELS["head"])


def test_cache_is_bounded_in_bytes():
    cache = FeatureCache(max_bytes=1000)
    for i in range(5):
        cache.put(str(i), {"x": torch.zeros(100)})  # 400 bytes each
    assert cache.nbytes <= 1000 and len(cache) == 2
    assert cache.get("4") is not None and cache.get("0") is None


def test_input_side_upsamples_small_and_shrinks_large_images():
    assert input_side(_images(2, side=28)) == 112
    assert input_side(_images(2, side=160)) == 160
    assert input_side(_images(2, side=300)) == 224


def test_nearest_distances_match_brute_force():
    rng = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(50, 8, generator=rng), torch.randn(30, 8, generator=rng)
    exact = torch.cdist(queries, bank)
    d1, i1 = nearest_distances(queries, bank, chunk=7)
    torch.testing.assert_close(d1[:, 0], exact.min(dim=1).values, atol=1e-4, rtol=1e-4)
    assert torch.equal(i1[:, 0], exact.argmin(dim=1))
    d3, _ = nearest_distances(queries, bank, 3)
    torch.testing.assert_close(d3, exact.topk(3, largest=False).values, atol=1e-4, rtol=1e-4)


def test_nearest_distances_leave_out_the_query_group_in_every_chunk():
    rng = torch.Generator().manual_seed(1)
    queries, bank = torch.randn(40, 6, generator=rng), torch.randn(25, 6, generator=rng)
    query_groups = torch.arange(40) // 6  # groups straddle the chunks of 7
    bank_groups = torch.randint(0, 7, (25,), generator=rng)
    exact = torch.cdist(queries, bank)
    exact[query_groups[:, None] == bank_groups[None, :]] = torch.inf
    for chunk in (7, 40, None):
        d, i = nearest_distances(queries, bank, 2, chunk=chunk, exclude=(query_groups, bank_groups))
        best = exact.topk(2, largest=False)
        torch.testing.assert_close(d, best.values, atol=1e-4, rtol=1e-4)
        assert torch.equal(i, best.indices)
        assert not (bank_groups[i] == query_groups[:, None]).any()


def test_interpolation_matrix_places_cells_by_position():
    coarse = StageGeometry(stride=4, field=9, offset=2.0)
    pixels = StageGeometry(stride=1, field=1)
    m = interpolation_matrix(12, pixels, 3, coarse)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(m[6], [0.0, 1.0, 0.0])  # pixel 6 is the centre of cell 1
    np.testing.assert_allclose(m[4], [0.5, 0.5, 0.0])


def test_features_equal_the_reference_implementation_of_the_weights():
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    from deepad.features.backbone import weights_path

    original = reference.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(weights_path())
    ).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = original.extract_features(x)
        ours = pretrained_backbone()(x, ("head",))["head"]
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_extracting_features_leaves_the_shared_network_usable_with_gradients():
    # moving it to channels_last inside inference mode made its parameters inference
    # tensors, and every later input gradient through it (or a copy of it) failed
    data = Dataset(DataKind.IMAGE, [np.zeros((40, 40, 3), np.uint8)], ["a"])
    extract_features(data, stages=("s4",), image_size=40, device="cpu", cache=None)
    assert not any(p.is_inference() for p in pretrained_backbone().parameters())


def test_folded_inference_copy_gives_the_same_features_and_leaves_the_network_alone():
    from deepad.features.backbone import inference_backbone

    network, fast = pretrained_backbone(), inference_backbone()
    assert fast is inference_backbone()  # made once per process
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    # the shared network keeps its BatchNorm layers, out-of-place ops and trainable state
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules()) == 49
    assert not network.act.inplace and not any(b.add_in_place for b in network._blocks)
    x = torch.randn(3, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want = network(x, ("s4", "s8", "s16", "head"))
        got = fast(x.clone(), ("s4", "s8", "s16", "head"))
    for stage, value in want.items():
        torch.testing.assert_close(got[stage], value, atol=2e-4, rtol=1e-4)
    # what extraction returns comes from the folded copy and equals the network's features
    images = (x[:, :1].numpy() * 40 + 128).clip(0, 255).astype(np.uint8)[:, 0]
    data = Dataset(DataKind.IMAGE, list(images), ["a", "b", "c"])
    features = extract_features(data, stages=("s8",), image_size=64, cache=None, disk=None)
    from deepad.data.transforms import stack_images, to_float
    from deepad.features import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        direct = network((to_float(stack_images(data, 64, 3)) - mean) / std, ("s8",))["s8"]
    torch.testing.assert_close(features["s8"], direct, atol=2e-4, rtol=1e-4)
