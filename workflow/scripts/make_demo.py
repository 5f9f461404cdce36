"""Rule demo_data: simulate a synthetic organoid and write the movie + CTC ground truth."""
from marrowflow.synthetic import OrganoidParams, simulate_organoid, write_synthetic
from marrowflow.workflow.step import run_step


def main(smk):
    params = OrganoidParams.from_config(smk.params.demo, where=f"config.yaml demo.{smk.wildcards.name}")
    write_synthetic(simulate_organoid(params), smk.output.movie, smk.output.gt)


run_step(snakemake, main)  # noqa: F821
