"""Lineage: trees per founder, cell cycles, counts per type (per lineage), fate map, production rates."""

from marrowflow.lineage.tables import (
    track_summary,
    cell_cycles,
    lineage_table,
    count_types,
    count_types_per_lineage,
    fate_map,
    production_rates,
)

__all__ = [
    "cell_cycles", "count_types", "count_types_per_lineage", "fate_map", "lineage_table",
    "production_rates", "track_summary",
]
