"""Rules count_intervals and audited_counts: count intervals from the calls' scores; error rates
and corrected counts from the user's audit (reviews/<sample>/audit.csv)."""
from marrowflow.io import read_table, write_table
from marrowflow.review.audit import audit_error_rates, corrected_counts, read_audit
from marrowflow.stats import UncertaintyParams, count_intervals
from marrowflow.workflow.step import run_step


def main(smk):
    params = UncertaintyParams.from_config(smk.params.uncertainty)
    if smk.rule == "count_intervals":
        tracks = read_table(smk.input.tracks)
        write_table(count_intervals(tracks, list(smk.params.classes), confidence=params.confidence),
                    smk.output.intervals)
        return
    audit = read_audit(smk.input.audit)
    write_table(audit_error_rates(audit, confidence=params.confidence), smk.output.errors)
    write_table(corrected_counts(read_table(smk.input.counts), audit, confidence=params.confidence,
                                 n_resamples=params.n_resamples, seed=params.seed), smk.output.counts)


run_step(snakemake, main)  # noqa: F821
