"""Rule measure: per-cell measurements on every frame, reviewed labels replacing segmentation."""
from pipeline.io import MovieMetadata, open_labels, open_movie, read_json, write_table
from pipeline.measure import measure_movie
from pipeline.review import load_review, reviewed_label_frames
from pipeline.step import run_step


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    review = load_review(smk.input.review_labels[0].rsplit("/", 1)[0]) if smk.input.review_labels else None
    with open_movie(meta.path, axes=meta.axes, channel_names=meta.channel_names) as movie, \
            open_labels(smk.input.labels) as labels:
        label_frames = reviewed_label_frames(labels, review) if review else labels
        cells = measure_movie(movie, label_frames, channel_names=meta.channel_names,
                              time_step_h=meta.time_step_h, pixel_size_um=meta.pixel_size_um)
    cells.insert(0, "sample", smk.wildcards.sample)
    write_table(cells, smk.output[0])


run_step(snakemake, main)  # noqa: F821
