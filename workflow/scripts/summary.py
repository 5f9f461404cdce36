"""Rule summary: every sample's counts and production rates in one table, plotted per condition;
per condition, estimates over replicates with bootstrap intervals and tests between conditions."""
from pathlib import Path

import pandas as pd

from marrowflow.io import read_table, write_table
from marrowflow.report import plot_production_rates, save_figure
from marrowflow.report.summary import (
    combine_counts,
    condition_estimates,
    condition_test_table,
    plot_condition_estimates,
    plot_counts_by_condition,
    replicate_values,
)
from marrowflow.stats import UncertaintyParams
from marrowflow.workflow.failures import clear_summary_stale
from marrowflow.workflow.step import run_step


def main(smk):
    params = UncertaintyParams.from_config(smk.params.uncertainty)
    samples = list(smk.params.samples)
    tables = [read_table(p) for p in smk.input.counts]
    combined = combine_counts(tables, dict(zip(samples, smk.params.conditions)),
                              replicates=dict(zip(samples, smk.params.replicates)),
                              batches=dict(zip(samples, smk.params.batches)))
    write_table(combined, smk.output.counts)
    rates = pd.concat([read_table(p) for p in smk.input.production], ignore_index=True)
    write_table(rates, smk.output.production)
    save_figure(plot_production_rates(rates, list(smk.params.classes)), smk.output.production_plot)
    values = replicate_values(combined, rates)
    estimates = condition_estimates(values, params)
    write_table(estimates, smk.output.estimates)
    write_table(condition_test_table(values, params), smk.output.tests)
    save_figure(plot_counts_by_condition(combined, estimates), smk.output.plot)
    save_figure(plot_condition_estimates(estimates, list(smk.params.classes)), smk.output.estimates_plot)
    clear_summary_stale(Path(smk.output.counts).parent)


run_step(snakemake, main)  # noqa: F821
