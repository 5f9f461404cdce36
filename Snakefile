# marrowflow: time-lapse microscopy of bone-marrow organoids -> cell types, lineages, counts.
# Run `snakemake --cores 2` here; see README.md. All logic lives in the `marrowflow` library (pipeline/).
import os
import sys

from snakemake.utils import min_version

from marrowflow.errors import ConfigError
from marrowflow.workflow.config import refuse_yte

min_version("9.0")

# The conda envs (workflow/envs/*.yaml) install this project from here: `pip: -e ${MARROWFLOW_SOURCE}`.
os.environ.setdefault("MARROWFLOW_SOURCE", workflow.basedir)

# A config that enables YTE templating runs code when loaded: refuse it before `configfile:` reads
# it, unless MARROWFLOW_ALLOW_YTE=1 (a --configfile is loaded by Snakemake before this file runs).
try:
    refuse_yte("config.yaml")
except ConfigError as _exc:
    sys.exit(f"marrowflow: {_exc}")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/track.smk"
include: "workflow/rules/lineage.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/uncertainty.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/train.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


onerror:
    from marrowflow.workflow.failures import (
        collect_failures,
        format_failures,
        mark_summary_stale,
    )

    _failures = collect_failures("logs", samples=SAMPLES.index)
    print(format_failures(_failures), file=sys.stderr)
    _stale = mark_summary_stale(f"{RESULTS}/summary", _failures)
    if _stale:
        print(
            f"marrowflow: the summary is from an earlier run: {_stale}",
            file=sys.stderr,
        )
