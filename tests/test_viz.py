import io

import numpy as np
import pytest
from PIL import Image

from deepad import viz


def test_normalize_map_own_range_and_fixed_range():
    amap = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(viz.normalize_map(amap), [[0, 0.25], [0.5, 1.0]])
    # a fixed set-wide scale clips instead of stretching
    np.testing.assert_allclose(viz.normalize_map(amap, 0.0, 4.0), [[0.25, 0.5], [0.75, 1.0]])
    assert not viz.normalize_map(np.full((2, 2), 7.0)).any()


def test_map_range_ignores_a_single_hot_pixel():
    maps = np.zeros((10, 20, 20), dtype=np.float32)
    maps[:, 5:8, 5:8] = 1.0
    maps[0, 0, 0] = 1000.0
    low, high = viz.map_range(maps, percentile=99.5)
    assert low == 0.0
    assert high == pytest.approx(1.0)


def test_per_image_and_whole_set_normalisation_differ():
    image = np.zeros((8, 8), dtype=np.uint8)
    weak = np.full((8, 8), 0.1, dtype=np.float32)
    weak[0, 0] = 0.2
    per_image = viz.overlay(image, weak, alpha=1.0, colormap="jet")
    whole_set = viz.overlay(image, weak, alpha=1.0, colormap="jet", low=0.0, high=10.0)
    # on its own scale the weak map's peak is full red; on a set-wide scale it stays cold
    hot = viz.colorize(np.ones((1, 1)), "jet")[0, 0]
    cold = viz.colorize(np.zeros((1, 1)), "jet")[0, 0]
    assert np.array_equal(per_image[0, 0], hot)
    assert np.abs(whole_set[0, 0].astype(int) - cold.astype(int)).sum() < 30


def test_overlay_resizes_map_to_image_and_blends():
    image = np.full((64, 48, 3), 200, dtype=np.uint8)
    amap = np.zeros((8, 6), dtype=np.float32)
    out = viz.overlay(image, amap, alpha=0.0)
    assert out.shape == (64, 48, 3) and out.dtype == np.uint8
    assert np.array_equal(out, image)  # alpha 0 leaves the image unchanged
    half = viz.overlay(image, amap, alpha=0.5, colormap="jet")
    cold = viz.colorize(np.zeros((1, 1)), "jet")[0, 0].astype(float)
    np.testing.assert_allclose(half[10, 10], np.rint(0.5 * 200 + 0.5 * cold), atol=1)


def test_to_rgb_handles_gray_single_channel_rgba_and_float():
    assert viz.to_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert viz.to_rgb(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5, 3)
    assert viz.to_rgb(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    assert viz.to_rgb(np.ones((2, 2), np.float32))[0, 0, 0] == 255


def test_colorize_rejects_unknown_colormap():
    with pytest.raises(ValueError, match="unknown colormap"):
        viz.colorize(np.zeros((2, 2)), "rainbow-unicorn")


def test_mask_outline_draws_only_on_the_border():
    image = np.zeros((20, 20), np.uint8)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    out = viz.draw_mask_outline(image, mask, color=(0, 255, 0))
    assert out[5, 10, 1] == 255 and out[10, 10, 1] == 0 and out[0, 0, 1] == 0


def test_upscale_and_png_round_trip():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    big = viz.upscale(image, 9)
    assert big.shape == (9, 12)
    decoded = np.asarray(Image.open(io.BytesIO(viz.png_bytes(big))))
    assert np.array_equal(decoded, big)


def test_token_html_escapes_and_scales_weights():
    out = viz.token_html(["<b>", "safe"], [0.0, 2.0])
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert 'title="2.0000"' in out
    # the heaviest token has the full alpha, the zero-weight token none
    assert "0.85)" in out and ",0.00)" in out
    with pytest.raises(ValueError):
        viz.token_html(["a"], [1.0, 2.0])


def test_histogram_has_one_trace_per_label_and_threshold_line():
    scores = np.array([0.1, 0.2, 0.9, 1.0])
    fig = viz.score_histogram(scores, np.array([0, 0, 1, -1]), threshold=0.5)
    assert [t.name for t in fig.data] == ["normal", "anomalous", "unlabeled"]
    assert fig.layout.shapes[0].x0 == 0.5
    assert len(viz.score_histogram(scores).data) == 1


def test_histogram_draws_labelled_markers_on_the_scores_axis():
    scores = np.array([0.1, 0.2, 0.9, 1.0])
    fig = viz.score_histogram(
        scores, threshold=0.5, markers=[(0.7, "radius R² = 0.7"), (float("nan"), "gone")]
    )
    assert [shape.x0 for shape in fig.layout.shapes] == [0.5, 0.7]
    assert [a.text for a in fig.layout.annotations] == ["threshold", "radius R² = 0.7"]
    # on a log axis the marker moves with the scores
    wide = np.concatenate([np.linspace(0.5, 1.0, 50), [1e4, 5e4]])
    fig = viz.score_histogram(wide, markers=[(100.0, "radius")])
    assert fig.layout.shapes[0].x0 == pytest.approx(2.0)


def test_roc_pr_figures_mark_the_operating_point():
    roc = viz.roc_figure(np.array([0, 0.5, 1]), np.array([0, 0.8, 1]), point=(0.5, 0.8), auc=0.7)
    assert roc.data[-1].x[0] == 0.5 and roc.data[-1].y[0] == 0.8
    assert "0.700" in roc.layout.title.text
    pr = viz.pr_figure(np.array([1.0, 0.5]), np.array([0.0, 1.0]), point=(1.0, 0.5))
    assert pr.data[-1].x[0] == 1.0 and pr.data[-1].y[0] == 0.5


def test_loss_curve_adds_lr_axis_only_when_lr_changes():
    constant = [{"epoch": 1, "loss": 2.0, "lr": 0.1}, {"epoch": 2, "loss": 1.0, "lr": 0.1}]
    assert len(viz.loss_curve(constant).data) == 1
    stepped = [{"epoch": 1, "loss": 2.0, "lr": 0.1}, {"epoch": 2, "loss": 1.0, "lr": 0.01}]
    assert len(viz.loss_curve(stepped).data) == 2


def test_two_score_scatter_carries_item_indices():
    fig = viz.two_score_scatter(
        np.array([1.0, 2.0, 3.0]),
        np.array([3.0, 2.0, 1.0]),
        np.array([0, 1, 0]),
        x_threshold=1.5,
        y_threshold=2.5,
    )
    by_name = {t.name: list(t.customdata) for t in fig.data}
    assert by_name == {"normal": [0, 2], "anomalous": [1]}
    assert len(fig.layout.shapes) == 2
    assert fig.layout.xaxis.title.text == "energy"  # nothing skewed: linear axes


def test_two_score_scatter_puts_a_skewed_score_on_a_log_axis_and_hovers_real_values():
    energy = np.array([-43.0, -42.9, -42.8, -42.7, 1500.0])
    error = np.array([0.1, 0.2, 0.3, 0.2, 0.4])
    fig = viz.two_score_scatter(energy, error, x_threshold=-42.85, names=list("abcde"))
    axis = viz.log_axis(energy)
    assert fig.layout.xaxis.title.text == "energy (symmetric log scale; ticks in real units)"
    ticks = list(fig.layout.xaxis.ticktext)
    values = [float(t.replace(",", "")) for t in ticks]  # readable values in real units
    assert len(values) >= 4 and values == sorted(values) and values[0] < -40 < 900 < values[-1]
    assert fig.layout.yaxis.title.text == "reconstruction error"
    np.testing.assert_allclose(fig.data[0].x, axis(energy))
    assert fig.layout.shapes[0].x0 == pytest.approx(float(axis(-42.85)))
    assert fig.data[0].text[-1] == "e<br>energy 1500<br>reconstruction error 0.4"
    assert viz.two_score_scatter(energy, error, log=False).layout.xaxis.title.text == "energy"


def test_confusion_matrix_layout():
    fig = viz.confusion_matrix_figure(tp=3, fp=1, fn=2, tn=10)
    assert [list(row) for row in fig.data[0].z] == [[10, 1], [2, 3]]


def test_histogram_bins_log_scores_when_they_span_decades():
    scores = np.concatenate([np.linspace(0.5, 1.0, 50), [1e4, 5e4]])
    assert viz.log_axis(scores) == viz.LogAxis(0.0)
    assert viz.log_axis(np.linspace(-1, 1, 10)) is None
    fig = viz.score_histogram(scores, threshold=10.0)
    assert fig.layout.xaxis.title.text == "anomaly score (log scale)"
    assert fig.layout.shapes[0].x0 == pytest.approx(1.0)
    # ticks sit on whole decades and name the scores they stand for
    assert list(fig.layout.xaxis.tickvals) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(fig.layout.xaxis.ticktext) == ["1", "10", "100", "1,000", "10,000"]
    assert viz.score_histogram(scores, log_scale=False).layout.xaxis.title.text == "anomaly score"


def test_signed_scores_with_a_far_tail_get_a_symmetric_log_axis_with_plain_ticks():
    """Issue 23: DSEBM's energies (−96.8 … 400) were on "log scale of value − (−96.8)"."""
    rng = np.random.default_rng(0)
    energy = np.concatenate([-43.0 + 0.3 * rng.random(200), [250.0, 1500.0]])
    axis = viz.log_axis(energy)
    q25, q75 = np.quantile(energy, [0.25, 0.75])
    assert axis == viz.SymlogAxis(float(np.median(energy)), float(q75 - q25))
    t = axis(energy)
    assert np.all(np.isfinite(t)) and np.all(np.diff(t[np.argsort(energy)]) >= 0)  # monotone
    np.testing.assert_allclose(axis.inverse(t), energy, rtol=1e-9, atol=1e-9)
    fig = viz.score_histogram(energy, threshold=-42.8)
    assert fig.layout.shapes[0].x0 == pytest.approx(float(axis(-42.8)))
    ticks = fig.layout.xaxis
    values = [float(text.replace(",", "")) for text in ticks.ticktext]
    assert len(values) >= 4 and values == sorted(values)
    for position, value in zip(ticks.tickvals, values, strict=True):
        assert float(axis.inverse(position)) == pytest.approx(value, rel=1e-6, abs=1e-9)
        assert float(f"{value:.2g}") == pytest.approx(value)  # round, plain numbers
    assert "−" not in ticks.ticktext[0] or ticks.ticktext[0].startswith("-")


def test_signed_overlay_shows_the_image_where_there_is_no_evidence():
    image = np.full((8, 8), 100, np.uint8)
    values = np.zeros((4, 4), np.float32)
    values[0, 0] = 1.0  # resized to the image: evidence in the top-left corner only
    values[3, 3] = -1.0
    out = viz.signed_overlay(image, values, limit=1.0, alpha=1.0)
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[4, 4], [100, 100, 100])  # no evidence: the image
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50  # raises the score: red
    assert out[7, 7, 2] > 200 and out[7, 7, 0] < 50  # lowers it: blue
    np.testing.assert_array_equal(
        viz.signed_overlay(image, values, 1.0, alpha=0.0)[0, 0], [100] * 3
    )
