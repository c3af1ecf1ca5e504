"""Training-time estimates before a run starts (deepad.models.cost): no torch, measured costs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepad.data.summary import DataSummary
from deepad.data.types import DataKind
from deepad.models import cost
from deepad.models.registry import catalog

PHOTOS = DataSummary(kind=DataKind.IMAGE, count=120, side=192, channels=1)


@pytest.fixture
def measured(monkeypatch):
    table = {"ae": cost.ItemCost(seconds=0.01, side=96, gflops=10.0, fixed=2.0)}
    monkeypatch.setattr(cost, "CPU_COSTS", table)
    return table["ae"]


def _estimate(settings, data=PHOTOS, device="cpu", speed=10.0, method="ae"):
    return cost.estimate_fit_seconds(method, settings, data, device_type=device, speed=speed)


def test_estimate_is_items_times_epochs_times_the_measured_cost(measured):
    settings = {"epochs": 10, "image_size": 96, "threshold_holdout": 0.15}
    assert _estimate(settings) == pytest.approx(2.0 + 102 * 10 * 0.01)


def test_estimate_scales_with_epochs_pixels_and_machine_speed(measured):
    base = _estimate({"epochs": 10, "image_size": 96}) - measured.fixed
    assert _estimate({"epochs": 20, "image_size": 96}) - measured.fixed == pytest.approx(2 * base)
    assert _estimate({"epochs": 10, "image_size": 192}) - measured.fixed == pytest.approx(4 * base)
    assert _estimate({"epochs": 10, "image_size": 96}, speed=20.0) == pytest.approx(
        (base + measured.fixed) / 2
    )
    # no image size in the settings: the data's own side
    assert _estimate({"epochs": 10}) - measured.fixed == pytest.approx(4 * base)


def test_no_estimate_where_nothing_was_measured(measured):
    assert _estimate({"epochs": 10}, device="cuda") is None
    table = DataSummary(kind=DataKind.TABLE, count=500, features=8)
    assert _estimate({"epochs": 10}, data=table) is None
    assert _estimate({"epochs": 10}, method="patchcore") is None


def test_measured_costs_name_image_networks_of_the_catalogue():
    image_methods = {m.name for m in catalog(DataKind.IMAGE)}
    assert cost.CPU_COSTS, "no measured costs: run deepad bench cpu-defaults"
    for method, item in cost.CPU_COSTS.items():
        assert method in image_methods
        assert item.seconds > 0 and item.gflops > 0 and item.side > 0


def test_measured_costs_are_the_committed_benchmark_s():
    results = Path(__file__).parents[2] / "benchmarks" / "results" / "cpu-defaults.json"
    measured = json.loads(results.read_text())
    assert cost.REFERENCE_GFLOPS == pytest.approx(measured["machine_gflops"], abs=0.05)
    rows = {r["method"]: r["s/item-epoch"] for r in measured["rows"]}
    for method in ("fcdd", "ae", "dsebm", "deepsvdd"):
        assert cost.CPU_COSTS[method].seconds == pytest.approx(rows[method], abs=5e-4), method
    assert cost.CPU_COSTS["fcdd"].wide_seconds == pytest.approx(rows["fcdd (published)"], abs=5e-4)


def test_machine_speed_is_timed_on_one_blas_thread(monkeypatch):
    from threadpoolctl import threadpool_info

    seen = []

    def timed(a, b, repeats):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return 1e-3

    monkeypatch.setattr(cost, "_fastest_product", timed)
    assert cost._matmul_gflops(size=100) == pytest.approx(2.0)  # 2·100³ flops in 1 ms
    assert seen and set(seen) == {1}


def test_a_speed_cached_by_the_earlier_all_threads_timing_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setattr(cost, "_matmul_gflops", lambda size=256, repeats=20: 80.0)
    (tmp_path / cost.CALIBRATION_FILE).write_text('{"gflops": 2.5, "cpus": "2"}')
    assert cost.machine_speed(tmp_path) == 80.0


def test_machine_speed_is_measured_once_and_cached(tmp_path, monkeypatch):
    calls = []

    def fake(size=256, repeats=20):
        calls.append(size)
        return 12.5

    monkeypatch.setattr(cost, "_matmul_gflops", fake)
    assert cost.machine_speed(tmp_path) == 12.5
    assert cost.machine_speed(tmp_path) == 12.5
    assert len(calls) == 1
    (tmp_path / cost.CALIBRATION_FILE).write_text("not json")
    assert cost.machine_speed(tmp_path) == 12.5 and len(calls) == 2


def test_describe_estimate_reads_naturally():
    assert cost.describe_estimate(0.2) == "about a second"
    assert cost.describe_estimate(6.8) == "about 7 seconds"
    assert cost.describe_estimate(12) == "about 10 seconds"
    assert cost.describe_estimate(200) == "about 3 minutes"
    assert cost.describe_estimate(3 * 3600) == "about 3.0 hours"
