"""Figures for the report: counts over time, lineage trees, production rates, fate by generation,
sister pairs, the across-sample summary (matplotlib `Figure`s, no pyplot); the cell-type palette; saving atomically.

The names load on first use, so that `marrowflow.report.palette` (read by the napari plugin when
it opens a sample) does not import matplotlib.
"""

from importlib import import_module

_SOURCES = {
    "save_figure": "figures",
    "draw_lineage_trees": "lineage_plots",
    "plot_counts_over_time": "lineage_plots",
    "plot_lineage_trees": "lineage_plots",
    "plot_production_rates": "lineage_plots",
    "plot_fate_by_generation": "event_plots",
    "plot_sister_pairs": "event_plots",
    "type_colours": "palette",
    "type_order": "palette",
    "combine_counts": "summary",
    "condition_means": "summary",
    "plot_counts_by_condition": "summary",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_SOURCES[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
