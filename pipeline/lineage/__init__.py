"""Lineage: trees per founder, cell cycles, counts per type (per lineage), fate map, production
rates, per-cell events (births, ends, marker onsets), lineage measures, and the layout of the
trees for drawing."""

from marrowflow.lineage.events import EventParams, cell_events, lineage_markers, timed_markers
from marrowflow.lineage.layout import tree_layout
from marrowflow.lineage.measures import (
    cell_table,
    clone_output,
    commitment_times,
    death_exit_rates,
    fate_by_generation,
    sister_pairs,
)
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
    "EventParams", "cell_cycles", "cell_events", "cell_table", "clone_output", "commitment_times",
    "count_types", "count_types_per_lineage", "death_exit_rates", "fate_by_generation", "fate_map",
    "lineage_markers", "lineage_table", "production_rates", "sister_pairs", "timed_markers", "track_summary",
    "tree_layout",
]
