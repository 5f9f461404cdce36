"""Rule plots: the per-sample figures."""
from marrowflow.classify.plots import plot_marker_thresholds
from marrowflow.io import read_table, warn_if_no_cells
from marrowflow.report import plot_counts_over_time, plot_lineage_trees, save_figure
from marrowflow.workflow.step import run_step


def main(smk):
    tracks = read_table(smk.input.tracks)
    classes = list(smk.params.classes)
    warn_if_no_cells(len(tracks), "plots", "the figures say so")
    save_figure(plot_counts_over_time(read_table(smk.input.counts), classes), smk.output.counts)
    save_figure(plot_lineage_trees(tracks, classes), smk.output.lineage_tree)
    save_figure(plot_marker_thresholds(tracks, read_table(smk.input.thresholds)), smk.output.thresholds)


run_step(snakemake, main)  # noqa: F821
