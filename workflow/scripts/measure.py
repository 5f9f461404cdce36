"""Rule measure: per-cell measurements on every frame, reviewed labels replacing segmentation (each
worker process reads its own frames)."""
import functools

from marrowflow.io import MovieMetadata, SampleFrames, read_json, write_table
from marrowflow.measure.cells import MeasureParams, measure_sample
from marrowflow.review.apply import apply_label_review
from marrowflow.review.files import load_review
from marrowflow.workflow.step import run_step


def main(smk):
    params = MeasureParams.from_config(smk.params.measure)
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    review = load_review(smk.params.review_dir) if smk.input.review_labels else None
    frames = SampleFrames(meta, smk.input.labels,
                          relabel=functools.partial(apply_label_review, review=review) if review else None)
    cells = measure_sample(frames, channel_names=meta.channel_names, time_step_h=meta.time_step_h,
                           pixel_size_um=meta.pixel_size_um, z_step_um=meta.z_step_um, params=params,
                           threads=smk.threads, source=f"measure {smk.input.labels}")
    cells.insert(0, "sample", smk.wildcards.sample)
    write_table(cells, smk.output[0])


run_step(snakemake, main)  # noqa: F821
