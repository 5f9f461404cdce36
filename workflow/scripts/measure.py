"""Rule measure: per-cell measurements on every frame, reviewed labels replacing segmentation."""
from marrowflow.io import MovieMetadata, open_labels, read_json, reopen_movie, write_table
from marrowflow.measure.cells import MeasureParams, measure_movie
from marrowflow.review.apply import apply_label_review
from marrowflow.review.files import load_review
from marrowflow.workflow.step import run_step


def main(smk):
    params = MeasureParams.from_config(smk.params.measure)
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    review = load_review(smk.params.review_dir) if smk.input.review_labels else None
    with reopen_movie(meta) as movie, \
            open_labels(smk.input.labels) as labels:
        label_frames = (apply_label_review(frame, t, review) for t, frame in enumerate(labels)) if review else labels
        cells = measure_movie(movie, label_frames, channel_names=meta.channel_names,
                              time_step_h=meta.time_step_h, pixel_size_um=meta.pixel_size_um,
                              z_step_um=meta.z_step_um, n_frames=meta.n_frames, params=params,
                              threads=smk.threads, source=f"measure {smk.input.labels}")
    cells.insert(0, "sample", smk.wildcards.sample)
    write_table(cells, smk.output[0])


run_step(snakemake, main)  # noqa: F821
