"""Lineage: trees per founder, cell cycles, counts per type (per lineage), fate map, production
rates, and the layout of the trees for drawing."""

from marrowflow.lineage.layout import tree_layout
from marrowflow.lineage.tables import (
    cell_cycles,
    count_types,
    count_types_per_lineage,
    fate_map,
    lineage_table,
    production_rates,
    track_summary,
)

__all__ = [
    "cell_cycles", "count_types", "count_types_per_lineage", "fate_map", "lineage_table",
    "production_rates", "track_summary", "tree_layout",
]
