import math
import subprocess
import sys

import numpy as np
import pytest

from deepad import metrics
from deepad.data.types import DataKind, Dataset


def _brute_force_best_f1(labels, scores):
    cuts = np.r_[np.unique(scores), scores.min() - 1.0]
    return max(metrics.operating_point(labels, scores, t).f1 for t in cuts)


def test_auroc_by_hand_and_unknown_labels_left_out():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    # pairs (anomaly > normal): 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3 of 4
    assert metrics.auroc(labels, scores) == pytest.approx(0.75)
    with_unknown = metrics.auroc(np.r_[labels, -1, -1], np.r_[scores, 100.0, -100.0])
    assert with_unknown == pytest.approx(0.75)


def test_auroc_ties_count_half():
    assert metrics.auroc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_one_class_gives_nan():
    scores = np.array([0.1, 0.2, 0.3])
    assert math.isnan(metrics.auroc(np.zeros(3), scores))
    assert math.isnan(metrics.auprc(np.ones(3), scores))
    assert math.isnan(metrics.auroc(np.array([0, -1, -1]), scores))


def test_auprc_by_hand():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    # ranked: 0.8 (hit, P=1), 0.4 (miss), 0.35 (hit, P=2/3): AP = 0.5 * 1 + 0.5 * 2/3
    assert metrics.auprc(labels, scores) == pytest.approx(0.5 + 1 / 3)


def test_operating_point_counts_strictly_above_threshold():
    labels = np.array([0, 0, 1, 1, -1])
    scores = np.array([0.2, 0.5, 0.5, 0.9, 0.95])
    point = metrics.operating_point(labels, scores, 0.5)
    assert (point.flagged, point.tp, point.fp, point.fn, point.tn) == (2, 1, 0, 1, 2)
    assert point.precision == 1.0 and point.recall == 0.5
    assert point.f1 == pytest.approx(2 / 3)
    assert point.false_positive_rate == 0.0
    unlabeled = metrics.operating_point(None, scores, 0.5)
    assert unlabeled.flagged == 2 and unlabeled.tp == unlabeled.fp == 0


def test_empty_operating_point_rates_are_zero_not_errors():
    point = metrics.operating_point(np.array([0, 0]), np.array([0.1, 0.2]), 1.0)
    assert point.precision == point.recall == point.f1 == 0.0
    assert metrics.precision_recall_f1(np.array([0, 1]), np.array([0.1, 0.9]), 0.5) == (1, 1, 1)


def test_threshold_for_contamination_flags_that_share():
    scores = np.arange(100, dtype=float)
    threshold = metrics.threshold_for_contamination(scores, 0.1)
    assert int((scores > threshold).sum()) == 10
    assert int((scores > metrics.threshold_for_contamination(scores, 0.0)).sum()) == 0
    with pytest.raises(ValueError):
        metrics.threshold_for_contamination(scores, 1.5)


@pytest.mark.parametrize("target", [0.0, 0.05, 0.2, 0.33, 1.0])
def test_threshold_for_fpr_keeps_the_rate_and_is_the_lowest_such(target):
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(50), np.ones(10), -np.ones(5)].astype(int)
    scores = rng.normal(size=65)
    threshold = metrics.threshold_for_fpr(labels, scores, target)
    point = metrics.operating_point(labels, scores, threshold)
    assert point.false_positive_rate <= target + 1e-12
    assert point.false_positive_rate == pytest.approx(np.floor(target * 50) / 50)
    normals = np.sort(scores[labels == 0])
    lower = normals[normals < threshold]
    if lower.size:  # any lower cut that is a normal's score would flag one normal more
        assert metrics.operating_point(labels, scores, lower.max()).fp > point.fp


def test_threshold_for_fpr_needs_normals():
    with pytest.raises(ValueError, match="normal"):
        metrics.threshold_for_fpr(np.array([1, 1, -1]), np.array([0.1, 0.2, 0.3]), 0.1)


@pytest.mark.parametrize("seed", range(5))
def test_best_f1_threshold_matches_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(40) < 0.3).astype(int)
    labels[:2] = [0, 1]
    scores = np.round(rng.normal(size=40) + labels, 1)  # rounding makes ties
    threshold, f1 = metrics.best_f1_threshold(labels, scores)
    assert f1 == pytest.approx(_brute_force_best_f1(labels, scores))
    assert metrics.operating_point(labels, scores, threshold).f1 == pytest.approx(f1)


def test_best_f1_threshold_needs_both_classes():
    with pytest.raises(ValueError):
        metrics.best_f1_threshold(np.zeros(4), np.arange(4.0))


def test_curves_leave_out_unknown_labels():
    labels = np.array([0, 1, -1, 0, 1])
    scores = np.array([0.1, 0.9, 0.5, 0.3, 0.7])
    fpr, tpr, _ = metrics.roc_points(labels, scores)
    assert fpr[-1] == tpr[-1] == 1.0
    precision, recall, _ = metrics.pr_points(labels, scores)
    assert precision.max() == 1.0 and recall[0] == 1.0
    # with the unknown item dropped the ranking is perfect
    assert np.any((fpr == 0.0) & (tpr == 1.0))


def test_pixel_auroc_uses_only_images_with_masks():
    masks = [np.array([[0, 1], [0, 0]]), None, np.array([[0, 0], [1, 0]])]
    maps = [
        np.array([[0.1, 0.9], [0.2, 0.3]]),
        np.full((2, 2), 5.0),  # would break the ranking if it were counted
        np.array([[0.0, 0.2], [0.8, 0.1]]),
    ]
    assert metrics.pixel_auroc(masks, maps) == pytest.approx(1.0)
    assert math.isnan(metrics.pixel_auroc([None, None], maps[:2]))


def test_pixel_auroc_resizes_each_map_to_its_mask_and_binarises_masks():
    # a 1×2 map stretched bilinearly over a 1×4 mask: cv2 samples at x = (i + 0.5) / 2 - 0.5,
    # so the four pixels get 0, 0.25, 0.75, 1 (edges clamped)
    mask = np.array([[0, 0, 255, 0]], dtype=np.uint8)  # 255 counts as anomalous, like 1
    amap = np.array([[0.0, 1.0]], dtype=np.float32)
    # scores 0, .25, .75 (anomalous), 1: the anomaly outranks 2 of the 3 normal pixels
    assert metrics.pixel_auroc([mask], [amap]) == pytest.approx(2 / 3)
    # a second image, already at its mask's size: anomalous .5 over normals .1, .9
    second = np.array([[0, 1, 0]]), np.array([[0.1, 0.5, 0.9]])
    # positives .75, .5; negatives 0, .25, 1, .1, .9: pairs won 3 + 3 of 10
    assert metrics.pixel_auroc([mask, second[0]], [amap, second[1]]) == pytest.approx(0.6)


def test_pixel_auroc_shrinks_masks_to_the_maps_above_max_pixels():
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[:2, :2] = 1
    amap = np.array([[1.0, 0.8], [0.0, 0.0]])
    assert metrics.pixel_auroc([mask], [amap], max_pixels=8) == pytest.approx(1.0)
    # under the limit the map is stretched instead: its warm right half spreads over normal
    # pixels that then outrank part of the anomalous quarter
    assert metrics.pixel_auroc([mask], [amap], max_pixels=None) < 1.0


def test_pixel_masks_count_labeled_normals_without_a_mask_as_defect_free():
    items = [np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3))]
    truth = np.array([[0, 1, 0], [0, 0, 0]])
    data = Dataset(
        DataKind.IMAGE,
        items,
        ["a", "b", "c"],
        labels=np.array([0, 1, 1]),
        masks=[None, truth, None],
    )
    masks = metrics.pixel_masks(data, [0, 1, 2])
    np.testing.assert_array_equal(masks[0], np.zeros((2, 3)))
    np.testing.assert_array_equal(masks[1], truth)
    assert masks[2] is None  # an anomaly without its mask tells nothing about pixels


def test_summary_has_ranking_metrics_only_with_both_classes():
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    full = metrics.summary(np.array([0, 0, 1, 1]), scores, 0.5)
    assert full["auroc"] == 1.0 and full["f1"] == 1.0 and full["flagged"] == 2.0
    unlabeled = metrics.summary(None, scores, 0.5)
    assert set(unlabeled) == {"threshold", "flagged"}


def test_scikit_learn_loads_on_first_use_or_in_the_background():
    script = (
        "import sys; from deepad import metrics\n"
        "assert 'sklearn' not in sys.modules, 'imported with deepad.metrics'\n"
        "thread = metrics.preload(); assert metrics.preload() is thread\n"
        "thread.join(); assert 'sklearn.metrics' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


# ------------------------------------------------------------------------------- AUPRO
_PRO_MASKS = [np.array([[1, 1, 0, 0]], np.uint8), np.array([[0, 0, 1, 0]], np.uint8)]
_PRO_MAPS = [np.array([[0.9, 0.2, 0.8, 0.1]]), np.array([[0.3, 0.05, 0.7, 0.4]])]


def test_aupro_by_hand():
    # regions R1 (2 px, image 1) and R2 (1 px, image 2); 5 defect-free pixels. From the top:
    # 0.9 R1 half -> PRO .25; 0.8 bg -> FPR .2; 0.7 R2 -> PRO .75; 0.4 bg -> FPR .4; ...
    fpr, pro = metrics.pro_curve(_PRO_MASKS, _PRO_MAPS)
    np.testing.assert_allclose(fpr, [0, 0, 0.2, 0.2, 0.3])
    np.testing.assert_allclose(pro, [0, 0.25, 0.25, 0.75, 0.75])
    # area .2 × .25 + .1 × .75 = .125, over .3
    assert metrics.aupro(_PRO_MASKS, _PRO_MAPS) == pytest.approx(0.125 / 0.3)
    # to FPR .5: .05 + .3 × .75 = .275, over .5
    assert metrics.aupro(_PRO_MASKS, _PRO_MAPS, fpr_limit=0.5) == pytest.approx(0.55)


def test_aupro_regions_weigh_equally_whatever_their_size():
    # a 3-px region found first and a 1-px region found late: the PRO is the mean of the two
    # regions' overlaps, not the share of defect pixels
    mask = np.array([[1, 1, 1, 0, 0, 1]], np.uint8)
    amap = np.array([[0.9, 0.9, 0.9, 0.5, 0.4, 0.1]])
    fpr, pro = metrics.pro_curve([mask], [amap], fpr_limit=1.0)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(pro, [0, 0.5, 0.5, 0.5, 1.0])


def test_aupro_diagonal_pixels_are_one_region_and_perfect_maps_score_one():
    mask = np.zeros((6, 6), np.uint8)
    mask[1, 1] = mask[2, 2] = 1  # 8-connected: one region
    mask[4, 4] = 1
    amap = mask.astype(float) + 0.01 * np.arange(36).reshape(6, 6) / 36
    assert metrics.aupro([mask], [amap]) == pytest.approx(1.0)
    # only the diagonal pair found before any false positive: half the regions
    amap2 = np.zeros((6, 6))
    amap2[1, 1] = amap2[2, 2] = 1.0
    fpr, pro = metrics.pro_curve([mask], [amap2])
    assert pro[np.flatnonzero(fpr == 0)[-1]] == pytest.approx(0.5)


def test_aupro_matches_a_threshold_sweep():
    rng = np.random.default_rng(0)
    masks, maps = [], []
    for _ in range(3):
        mask = np.zeros((12, 12), np.uint8)
        y, x = rng.integers(0, 9, 2)
        mask[y : y + 3, x : x + 2] = 1
        mask[rng.integers(0, 12), rng.integers(0, 12)] = 1
        masks.append(mask)
        maps.append(mask * rng.uniform(0, 1, (12, 12)) + rng.uniform(0, 0.8, (12, 12)))
    masks.append(np.zeros((12, 12), np.uint8))  # a normal image adds only defect-free pixels
    maps.append(rng.uniform(0, 0.8, (12, 12)))
    fpr, pro = metrics.pro_curve(masks, maps, fpr_limit=1.0)
    import cv2

    regions = [
        labels == r
        for m in masks
        for count, labels in [cv2.connectedComponents(m, connectivity=8)]
        for r in range(1, count)
    ]
    owner = [i for i, m in enumerate(masks) for _ in range(cv2.connectedComponents(m)[0] - 1)]
    background = np.concatenate([(m == 0).ravel() for m in masks])
    values = np.concatenate([a.ravel() for a in maps])
    for t in np.unique(values)[::7]:
        expected_fpr = np.mean(values[background] >= t)
        expected_pro = np.mean(
            [np.mean(maps[o][r] >= t) for o, r in zip(owner, regions, strict=True)]
        )
        i = np.flatnonzero(np.isclose(fpr, expected_fpr))
        assert len(i) and np.isclose(pro[i], expected_pro).any()


def test_aupro_needs_regions_and_background():
    assert math.isnan(metrics.aupro([np.zeros((2, 2), np.uint8)], [np.ones((2, 2))]))
    assert math.isnan(metrics.aupro([None], [np.ones((2, 2))]))
    assert math.isnan(metrics.aupro([np.ones((2, 2), np.uint8)], [np.ones((2, 2))]))


def test_excess_flagged_is_judged_on_the_labeled_normal_items():
    scores = np.arange(40, dtype=float)
    # 25 anomalies above 15 normals, threshold between them: 62 % flagged, no false positive
    labels = np.r_[np.zeros(15), np.ones(25)]
    assert metrics.excess_flagged(labels, scores, 14.5, 0.05) is None
    # the same threshold without labels: most items flagged, said so
    assert metrics.excess_flagged(None, scores, 14.5, 0.05) == ("scored items", 25 / 40)
    # a threshold that flags 8 of the 15 normals
    assert metrics.excess_flagged(labels, scores, 6.5, 0.05) == ("labeled normal items", 8 / 15)
    # unknown labels (-1) only: judged on all items
    assert metrics.excess_flagged(np.full(40, -1), scores, 30.5, 0.05) is None
    assert metrics.excess_flagged(None, scores[:0], 1.0, 0.05) is None
