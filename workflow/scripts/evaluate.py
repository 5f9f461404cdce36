"""Rule evaluate: the measures the sample's ground truth allows (CTC, SEG/F1, traccuracy, counts) and,
where the sample has reviewed label frames that tuning did not use, the accuracy on them."""
from marrowflow.evaluate import EvaluationParams, evaluate_sample
from marrowflow.evaluate.reviewed_accuracy import reviewed_accuracy, tuned_frames
from marrowflow.io import open_labels, write_json
from marrowflow.segment.train import read_reviewed_frames
from marrowflow.workflow.step import run_step


def main(smk):
    gt = smk.input.get("gt") or None
    result = evaluate_sample(res_dir=smk.input.ctc, gt_dir=gt, counts_path=smk.input.counts,
                             geff_path=smk.input.geff, params=EvaluationParams.from_config(smk.params.evaluation),
                             threads=smk.threads)
    if smk.input.get("review_frames"):
        frames = read_reviewed_frames(smk.input.review_frames[0])
        exclude = tuned_frames(smk.params.preset, smk.wildcards.sample)
        with open_labels(smk.input.labels) as run, open_labels(smk.input.review_labels[0]) as reviewed:
            bad = [t for t in frames if t >= min(run.n_frames, reviewed.n_frames)]
            if bad:
                raise ValueError(f"{smk.input.review_frames[0]}: frames {bad} are beyond the movie's "
                                 f"{run.n_frames} frames or the {reviewed.n_frames} of {smk.input.review_labels[0]}; "
                                 "fix the list or save the review again")
            kept = [t for t in frames if t not in exclude]
            result["reviewed_frames"] = reviewed_accuracy({t: run.read_frame(t) for t in kept},
                                                          {t: reviewed.read_frame(t) for t in kept}, frames,
                                                          exclude=exclude)
    write_json(result, smk.output[0])


run_step(snakemake, main)  # noqa: F821
