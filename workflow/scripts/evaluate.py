"""Rule evaluate: the measures the sample's ground truth allows (CTC, SEG/F1, traccuracy, counts)."""
from marrowflow.evaluate import EvaluationParams, evaluate_sample
from marrowflow.io import write_json
from marrowflow.workflow.step import run_step


def main(smk):
    result = evaluate_sample(res_dir=smk.input.ctc, gt_dir=smk.input.gt, counts_path=smk.input.counts,
                             geff_path=smk.input.geff, params=EvaluationParams.from_config(smk.params.evaluation))
    write_json(result, smk.output[0])


run_step(snakemake, main)  # noqa: F821
