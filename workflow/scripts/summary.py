"""Rule summary: every sample's counts and production rates in one table, plotted per condition."""
from pathlib import Path

import pandas as pd

from marrowflow.io import read_table, write_table
from marrowflow.report import combine_counts, plot_counts_by_condition, plot_production_rates, save_figure
from marrowflow.workflow.failures import clear_summary_stale
from marrowflow.workflow.step import run_step


def main(smk):
    tables = [read_table(p) for p in smk.input.counts]
    combined = combine_counts(tables, dict(zip(smk.params.samples, smk.params.conditions)))
    write_table(combined, smk.output.counts)
    save_figure(plot_counts_by_condition(combined), smk.output.plot)
    rates = pd.concat([read_table(p) for p in smk.input.production], ignore_index=True)
    write_table(rates, smk.output.production)
    save_figure(plot_production_rates(rates, list(smk.params.classes)), smk.output.production_plot)
    clear_summary_stale(Path(smk.output.counts).parent)


run_step(snakemake, main)  # noqa: F821
