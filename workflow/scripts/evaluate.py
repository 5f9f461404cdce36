"""Rule evaluate: CTC measures against the sample's ground truth, plus count errors if typed GT."""
from marrowflow.evaluate.ctc_measures import evaluate_sample
from marrowflow.io import write_json
from marrowflow.workflow.step import run_step


def main(smk):
    result = evaluate_sample(res_dir=smk.input.ctc, gt_dir=smk.input.gt, counts_path=smk.input.counts)
    write_json(result, smk.output[0])


run_step(snakemake, main)  # noqa: F821
