"""Figures for the report: counts over time, lineage trees, production rates, the across-sample
summary; saved atomically and reproducibly."""

from marrowflow.report.figures import save_figure
from marrowflow.report.lineage_plots import (
    plot_counts_over_time,
    plot_lineage_trees,
    plot_production_rates,
    type_colours,
)
from marrowflow.report.summary import combine_counts, condition_means, plot_counts_by_condition

__all__ = [
    "combine_counts", "condition_means", "plot_counts_by_condition", "plot_counts_over_time",
    "plot_lineage_trees", "plot_production_rates", "save_figure", "type_colours",
]
