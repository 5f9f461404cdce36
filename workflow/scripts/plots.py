"""Rule plots: the per-sample figures."""
import matplotlib

matplotlib.use("Agg")

from marrowflow.report.figures import save_figure  # noqa: E402
from marrowflow.io import read_table  # noqa: E402
from marrowflow.report.lineage_plots import plot_counts_over_time, plot_lineage_trees  # noqa: E402
from marrowflow.classify.plots import plot_marker_thresholds  # noqa: E402
from marrowflow.workflow.step import run_step  # noqa: E402


def main(smk):
    tracks = read_table(smk.input.tracks)
    classes = list(smk.params.classes)
    save_figure(plot_counts_over_time(read_table(smk.input.counts), classes), smk.output.counts)
    save_figure(plot_lineage_trees(tracks, classes), smk.output.lineage_tree)
    save_figure(plot_marker_thresholds(tracks, read_table(smk.input.thresholds)), smk.output.thresholds)


run_step(snakemake, main)  # noqa: F821
