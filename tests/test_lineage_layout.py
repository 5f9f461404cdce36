"""The one lineage-tree layout (report and napari plugin)."""

import pandas as pd

from marrowflow.lineage import track_summary, tree_layout

from test_lineage import hand_made_tree


def test_leaves_in_depth_first_rows_mothers_midway_trees_apart():
    layout = tree_layout(track_summary(hand_made_tree()), gap=1.5)
    y = layout.set_index("track_id")["y"].to_dict()
    # founder 1 -> 2 (-> 5, 6) and 3 (-> 4 after a gap); founder 7 alone
    assert (y[5], y[6], y[3], y[4]) == (0.0, 1.0, 2.0, 2.0)  # a continuation shares its row
    assert y[2] == 0.5 and y[1] == 1.25
    assert y[7] == 2.0 + 1.5  # the next tree `gap` rows below the last leaf
    assert layout["y"].is_monotonic_increasing and set(layout.columns) >= {"lineage_id", "begin", "end"}


def test_daughters_ordered_by_first_frame_and_unknown_parents_are_founders():
    table = pd.DataFrame({"track_id": [1, 2, 3, 4], "parent_track_id": [0, 1, 1, 9], "begin": [0, 5, 4, 0]})
    y = tree_layout(table).set_index("track_id")["y"].to_dict()
    assert (y[3], y[2], y[1]) == (0.0, 1.0, 0.5)  # 3 starts first
    assert y[4] == 2.5  # parent 9 is not in the table: a tree of its own
