"""Near-duplicates among training items (deepad.features.neighbours), by hand-made points."""

from __future__ import annotations

import torch

from deepad.features.neighbours import leave_out_groups, near_duplicates, nearest_distances


def test_copies_and_slightly_moved_copies_are_near_duplicates_distinct_items_are_not():
    rng = torch.Generator().manual_seed(0)
    distinct = torch.randn(30, 16, generator=rng)
    # item 30 copies item 0 exactly, item 31 is item 1 moved by 5 % of a typical distance
    moved = distinct[1] + 0.05 * 5.6 * torch.nn.functional.normalize(torch.ones(16), dim=0)
    points = torch.cat([distinct, distinct[:1], moved[None]])
    found = near_duplicates(points, 0.4)
    assert found[0].tolist() == [30] and found[30].tolist() == [0]
    assert found[1].tolist() == [31] and found[31].tolist() == [1]
    # independent Gaussian points in 16 dimensions: none is within 0.4 of its median distance
    assert all(len(f) == 0 for f in found[2:30])


def test_the_cut_is_the_ratio_of_each_items_median_distance():
    # on a line: item 0's distances to the others are 1, 2, 3, 4, 5 (median 3)
    points = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    assert near_duplicates(points, ratio=0.4)[0].tolist() == [1]  # 1 <= 0.4 * 3
    assert near_duplicates(points, ratio=0.33)[0].tolist() == []  # 1 > 0.99
    assert [len(f) for f in near_duplicates(points[:2], 0.4)] == [0, 0]  # no median to compare
    assert [len(f) for f in near_duplicates(points, 0.0)] == [0] * 6  # 0: none left out


def test_chunks_give_the_same_near_duplicates():
    points = torch.cat([torch.eye(6), torch.eye(6)[:2] * 1.01])
    whole = near_duplicates(points, 0.4)
    assert [f.tolist() for f in near_duplicates(points, 0.4, chunk=3)] == [
        f.tolist() for f in whole
    ]
    assert whole[6].tolist() == [0] and whole[0].tolist() == [6]


def test_leave_out_groups_mark_the_rows_of_an_item_and_its_near_duplicates():
    owner = torch.tensor([0, 0, 1, 2, 2, 3])
    found = [
        torch.tensor([2]),
        torch.zeros(0, dtype=torch.long),
        torch.tensor([0]),
        torch.zeros(0, dtype=torch.long),
    ]
    groups = dict(leave_out_groups(owner, found))
    assert sorted(groups) == [0, 2]  # items without near-duplicates keep plain leave-one-out
    assert groups[0].tolist() == [0, 0, 1, 0, 0, 1]
    assert groups[2].tolist() == [0, 0, 1, 0, 0, 1]


def test_each_query_group_leaves_out_its_own_columns_by_row_groups_or_by_column_sets():
    g = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(30, 4, generator=g), torch.randn(24, 4, generator=g)
    query_groups = torch.arange(30) % 3
    # overlapping sets of columns, as an image leaves out its near-duplicates' entries too
    columns = [
        torch.tensor([0, 1, 2, 5]),
        torch.tensor([2, 3, 4]),
        torch.tensor([], dtype=torch.long),
    ]
    full = torch.cdist(queries.double(), bank.double())
    for group, left_out in enumerate(columns):
        full[(query_groups == group).nonzero()[:, 0][:, None], left_out[None, :]] = torch.inf
    expected = full.topk(2, dim=1, largest=False)
    for chunk in (7, 64):
        got = nearest_distances(queries, bank, 2, chunk=chunk, exclude=(query_groups, columns))
        torch.testing.assert_close(got[0].double(), expected.values, atol=1e-4, rtol=0)
        assert torch.equal(got[1], expected.indices)
    # by each bank row's group: the same as the sets of the rows of that group
    owner = torch.arange(24) % 4
    by_rows = nearest_distances(queries, bank, exclude=(query_groups, owner))
    sets = [torch.nonzero(owner == group)[:, 0] for group in range(4)]
    by_sets = nearest_distances(queries, bank, exclude=(query_groups, sets))
    assert torch.equal(by_rows[1], by_sets[1])
