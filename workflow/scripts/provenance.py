"""Rules provenance*: record what produced a results folder (start/end = its outputs' times)."""
from pathlib import Path

from marrowflow.workflow.provenance import write_provenance
from marrowflow.workflow.step import run_step


def main(smk):
    times = [Path(p).stat().st_mtime for p in smk.input.outputs]
    movie = smk.input.movie
    write_provenance(Path(smk.output[0]).parent, config=smk.params.config,
                     inputs=[movie] if isinstance(movie, str) else list(movie),
                     command=smk.params.command, start=min(times), end=max(times))


run_step(snakemake, main)  # noqa: F821
