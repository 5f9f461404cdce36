"""Rules segment / segment_chunk: segment frames of the configured channel into a label stack,
gather the chunk stacks of a split segmentation in order, or write a sample's own labels
(sample sheet column `labels`) as its label stack."""
import logging

from marrowflow.io import MovieMetadata, gather_label_chunks, label_scale, read_json, reopen_movie
from marrowflow.io.given_labels import write_given_labels
from marrowflow.segment.movie import segment_movie
from marrowflow.segment.segmenter import SegmentationParams
from marrowflow.workflow.config import segmentation_channel
from marrowflow.workflow.step import run_step


def main(smk):
    chunks = list(smk.input.get("chunks", []))
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    given = smk.params.get("labels", "")
    if given:
        renumbered = write_given_labels(given, smk.output[0], n_frames=meta.n_frames, shape_zyx=meta.shape_zyx,
                                        scale=label_scale(meta))
        logging.getLogger("marrowflow").info("labels from %s (sample sheet column `labels`); %d frame(s) "
                                             "renumbered to 1..N", given, renumbered)
        return
    if chunks:
        gather_label_chunks(chunks, smk.output[0], scale=label_scale(meta))
        return
    params = SegmentationParams.from_config(smk.params.segmentation)
    channel = segmentation_channel({"channels": smk.params.channels,
                                    "segmentation": smk.params.segmentation}, meta.channel_names)
    frames = range(int(smk.wildcards.start), int(smk.wildcards.stop)) if "start" in smk.wildcards.keys() else None
    with reopen_movie(meta) as movie:
        segment_movie(movie, params, channel=channel, out_path=smk.output[0], frames=frames, threads=smk.threads)


run_step(snakemake, main)  # noqa: F821
