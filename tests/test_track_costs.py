"""Overlap-aware link and division costs on small hand-made label frames."""

import numpy as np

from marrowflow.track.costs import (
    cell_scale,
    daughter_link_costs,
    division_pair_costs,
    frame_overlaps,
    link_costs,
    movie_overlaps,
    shift_labels,
)


def _disc(shape, cy, cx, r, value, out=None):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    out = np.zeros(shape, np.uint32) if out is None else out
    out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value
    return out


def test_frame_overlaps_counts_shared_pixels():
    a = np.zeros((6, 6), np.uint32)
    a[0:2, 0:2] = 1
    a[3:6, 3:6] = 2
    b = np.zeros((6, 6), np.uint32)
    b[1:3, 1:3] = 5
    b[3:6, 3:5] = 7
    ov = frame_overlaps(a, b)
    assert ov.values.tolist() == [[1, 5, 1], [2, 7, 6]]


def test_movie_overlaps_moves_the_next_frame_back_by_the_drift():
    a = _disc((40, 40), 20, 20, 5, 1)
    b = shift_labels(a, (3, -4))
    assert movie_overlaps([a, b])["overlap_px"].max() < (a > 0).sum()
    drift = np.array([[0.0, 0.0], [3.0, -4.0]])
    ov = movie_overlaps([a, b], drift=drift)
    assert ov[["frame", "label", "next_label"]].values.tolist() == [[0, 1, 1]]
    assert ov["overlap_px"].iloc[0] == (a > 0).sum()


def test_link_cost_prefers_the_overlapping_same_size_cell():
    a = _disc((40, 60), 20, 20, 6, 1)
    b = _disc((40, 60), 21, 21, 6, 1)
    _disc((40, 60), 20, 34, 6, 2, out=b)  # a neighbour one diameter away, no overlap
    ov = frame_overlaps(a, b).set_index("next_label")["overlap_px"]
    area = np.array([(a == 1).sum(), (b == 1).sum(), (b == 2).sum()], float)
    pos = np.array([[20.0, 20.0], [21.0, 21.0], [20.0, 34.0]])
    scale = cell_scale(area)
    assert 5.5 < scale < 6.5
    cost = link_costs(pos[[0, 0]], pos[[1, 2]], area[[0, 0]], area[[1, 2]],
                      np.array([ov.get(1, 0), ov.get(2, 0)], float), scale,
                      distance_weight=1.0, overlap_weight=1.0, area_weight=0.5)
    assert cost[0] < 0.5 < 4.0 < cost[1]


def test_division_costs_reward_daughters_inside_the_mother_with_conserved_area():
    shape = (40, 60)
    mother = _disc(shape, 20, 25, 8, 1)
    true = _disc(shape, 20, 21, 5, 1)
    _disc(shape, 20, 29, 5, 2, out=true)  # two halves side by side inside the mother
    other = _disc(shape, 20, 45, 8, 3)  # an unrelated full-size cell outside it
    nxt = true.copy()
    nxt[other > 0] = 3
    ov = frame_overlaps(mother, nxt).set_index("next_label")["overlap_px"]
    area = {k: float((nxt == k).sum()) for k in (1, 2, 3)}
    am = float((mother == 1).sum())
    pos = {1: (20.0, 21.0), 2: (20.0, 29.0), 3: (20.0, 45.0)}
    scale = 6.0

    def pair(j, k):
        return division_pair_costs(np.array([[20.0, 25.0]]), np.array([pos[j]]), np.array([pos[k]]),
                                   np.array([am]), np.array([area[j]]), np.array([area[k]]),
                                   np.array([ov.get(j, 0)], float), np.array([ov.get(k, 0)], float), scale,
                                   division_cost=0.3, distance_weight=1.0, area_weight=1.0,
                                   overlap_weight=1.0)[0]

    good, bad = pair(1, 2), pair(1, 3)
    assert 0.3 <= good < 0.5
    assert bad > good + 1.0
    # as a daughter, each half costs little; as the same cell it would cost much more
    j = np.array([1, 2])
    args = (np.repeat([[20.0, 25.0]], 2, axis=0), np.array([pos[1], pos[2]]), np.full(2, am),
            np.array([area[1], area[2]]), np.array([ov[1], ov[2]], float), scale)
    weights = {"distance_weight": 1.0, "overlap_weight": 1.0, "area_weight": 0.5}
    as_daughter, as_same = daughter_link_costs(*args, **weights), link_costs(*args, **weights)
    assert (as_daughter < 0.2).all() and (as_same > as_daughter + 0.5).all(), j


def test_shift_labels_fills_with_zeros():
    a = np.arange(1, 10, dtype=np.uint32).reshape(3, 3)
    assert shift_labels(a, (1, 0)).tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    assert shift_labels(a, (0, -5)).sum() == 0


def test_a_daughter_in_empty_space_costs_less_than_one_in_a_neighbours_mask():
    """Daughters that jump out of the mother's mask: pixels in empty space do not count against
    the division, pixels inside another cell of the mother's frame do."""
    shape = (40, 80)
    prev = _disc(shape, 20, 20, 7, 1)  # the mother
    _disc(shape, 20, 60, 7, 2, out=prev)  # a neighbour far to the right
    nxt = _disc(shape, 20, 10, 5, 1)  # daughter 1, half out of the mother, into empty space
    _disc(shape, 20, 30, 5, 2, out=nxt)  # daughter 2, same on the other side
    _disc(shape, 20, 58, 5, 3, out=nxt)  # a candidate inside the neighbour's mask
    ov = frame_overlaps(prev, nxt)
    inside_mother = ov[ov["label"] == 1].set_index("next_label")["overlap_px"]
    covered = ov.groupby("next_label")["overlap_px"].sum()
    area = {k: float((nxt == k).sum()) for k in (1, 2, 3)}
    pos = {1: (20.0, 10.0), 2: (20.0, 30.0), 3: (20.0, 58.0)}
    am, scale = float((prev == 1).sum()), 6.0

    def pair(j, k, with_cover):
        extra = {"covered_1": np.array([covered.get(j, 0)], float),
                 "covered_2": np.array([covered.get(k, 0)], float)} if with_cover else {}
        return division_pair_costs(np.array([[20.0, 20.0]]), np.array([pos[j]]), np.array([pos[k]]),
                                   np.array([am]), np.array([area[j]]), np.array([area[k]]),
                                   np.array([inside_mother.get(j, 0)], float),
                                   np.array([inside_mother.get(k, 0)], float), scale,
                                   division_cost=0.3, distance_weight=1.0, area_weight=1.0,
                                   overlap_weight=1.0, **extra)[0]

    assert pair(1, 2, True) < pair(1, 2, False) - 0.3  # empty space no longer charged
    assert pair(1, 2, True) < 0.5
    assert pair(1, 3, True) > pair(1, 2, True) + 1.0  # a daughter in the neighbour's mask is
    args = (np.repeat([[20.0, 20.0]], 2, axis=0), np.array([pos[1], pos[3]]), np.full(2, am),
            np.array([area[1], area[3]]), np.array([inside_mother.get(1, 0), inside_mother.get(3, 0)], float), scale)
    cover = np.array([covered.get(1, 0), covered.get(3, 0)], float)
    only_overlap = {"distance_weight": 0.0, "overlap_weight": 1.0, "area_weight": 0.0}
    cost = daughter_link_costs(*args, **only_overlap, covered_px=cover)
    assert cost[0] == 0.0 and cost[1] > 0.99  # empty space free, the neighbour's pixels charged
    assert daughter_link_costs(*args, **only_overlap)[0] > 0.3  # the older reading charged both
