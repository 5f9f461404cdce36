"""The one cell-type palette: order and colours, and the report's figures drawing with it."""

import re

from matplotlib.colors import to_hex

from marrowflow.lineage import count_types
from marrowflow.report import plot_counts_over_time, plot_lineage_trees
from marrowflow.report.palette import UNKNOWN_COLOUR, type_colours, type_order

from test_lineage import CLASSES, hand_made_tree


def test_order_is_the_classes_then_other_types_then_unknown():
    assert type_order(["b", "zeta", "alpha", "unknown"], ["b", "a"]) == ["b", "a", "alpha", "zeta", "unknown"]
    assert type_order(["b", "a"], ["b", "a"]) == ["b", "a", "unknown"]  # configured: unknown always listed
    assert type_order(["b", "a"]) == ["a", "b"]
    assert type_order(["b", "unknown", "a"]) == ["a", "b", "unknown"]


def test_colours_are_hex_stable_for_an_order_and_unknown_grey():
    colours = type_colours(["progenitor", "unknown", "erythroid", "myeloid"])
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours.values())
    assert colours["unknown"] == UNKNOWN_COLOUR
    assert colours == type_colours(["progenitor", "erythroid", "myeloid", "unknown"])
    assert len({colours[t] for t in ("progenitor", "erythroid", "myeloid", "unknown")}) == 4
    many = type_colours([f"t{i}" for i in range(20)])
    assert UNKNOWN_COLOUR not in {many[f"t{i}"] for i in range(20)}  # no named type looks unknown


def test_report_figures_colour_each_type_from_the_palette():
    tree = hand_made_tree()
    colours = type_colours(type_order(tree["cell_type"], CLASSES))
    ax = plot_counts_over_time(count_types(tree, CLASSES), CLASSES).axes[0]
    assert [to_hex(c.get_facecolor()[0], keep_alpha=False) for c in ax.collections] == [
        colours[t] for t in ["progenitor", "erythroid", "myeloid", "unknown"]]
    ax = plot_lineage_trees(tree, CLASSES).axes[0]
    drawn = sorted(to_hex(c) for s in ax.collections for c in s.get_facecolors())
    assert drawn == sorted(colours[t] for t in tree["cell_type"])
