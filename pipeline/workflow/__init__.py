"""The workflow wing: config and sample sheet, movie discovery, provenance, the rule-step runner
and the failure summary. The only part of marrowflow that knows Snakemake, config.yaml or the
sample sheet; the steps below it take arrays, tables and parameter objects."""

