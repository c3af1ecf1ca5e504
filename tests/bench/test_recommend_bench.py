"""``deepad bench recommend``'s photo cases: the shared real-photo categories, never the
held-out photographs."""

from __future__ import annotations

import pytest

pytest.importorskip("skimage")

from deepad.bench import BenchOptions  # noqa: E402
from deepad.bench.recommend import DEFAULT_PHOTOS, _photo_cases  # noqa: E402
from deepad.data.benchmarks.photos import CATEGORIES  # noqa: E402
from deepad.data.types import ANOMALOUS  # noqa: E402


def test_the_default_photo_cases_are_reported_categories_with_masks():
    cases = list(_photo_cases(BenchOptions()))
    assert [c.name.split()[1] for c in cases] == DEFAULT_PHOTOS.split(",")
    assert all(name in CATEGORIES for name in DEFAULT_PHOTOS.split(","))
    for case in cases:
        assert len(case.train) == 120 and case.test.has_masks
        # the labeled anomalies are taken out of the test set, not shared with it
        assert set(case.labeled.names).isdisjoint(case.test.names)
        assert (case.labeled.labels == ANOMALOUS).all()


@pytest.mark.parametrize("name", ["brick", "hubble_deep_field"])
def test_a_held_out_or_unknown_photo_is_refused(name):
    with pytest.raises(ValueError, match="not a photo category"):
        list(_photo_cases(BenchOptions(extra={"photos": name})))
