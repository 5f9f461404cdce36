"""Rule plots: the per-sample figures."""
from marrowflow.classify.plots import plot_marker_thresholds
from marrowflow.io import read_table, warn_if_no_cells
from marrowflow.lineage import EventParams, lineage_markers, timed_markers
from marrowflow.report import (
    plot_counts_over_time,
    plot_fate_by_generation,
    plot_lineage_trees,
    plot_sister_pairs,
    save_figure,
)
from marrowflow.workflow.step import run_step


def main(smk):
    tracks = read_table(smk.input.tracks)
    events = read_table(smk.input.events)
    classes = list(smk.params.classes)
    timed = timed_markers(events)
    markers = EventParams.from_config(smk.params.lineage).onset_markers or lineage_markers(
        smk.params.class_rules, smk.params.transitions, timed)
    warn_if_no_cells(len(tracks), "plots", "the figures say so")
    save_figure(plot_counts_over_time(read_table(smk.input.counts), classes), smk.output.counts)
    save_figure(plot_lineage_trees(tracks, classes, events=events, onset_markers=markers), smk.output.lineage_tree)
    save_figure(plot_marker_thresholds(tracks, read_table(smk.input.thresholds)), smk.output.thresholds)
    save_figure(plot_fate_by_generation(read_table(smk.input.fate_by_generation), classes),
                smk.output.fate_by_generation)
    save_figure(plot_sister_pairs(read_table(smk.input.sister_pairs), markers, classes), smk.output.sister_pairs)


run_step(snakemake, main)  # noqa: F821
