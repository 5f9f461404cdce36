"""Rules segment / segment_chunk: segment frames of the configured channel into a label stack,
gather the chunk stacks of a split segmentation in order, or write a sample's own labels
(sample sheet column `labels`) as its label stack. Rule segment also writes segmentation.json:
what the segmentation assumed (`preset: auto`'s estimates from the movie) and used."""
import logging

from marrowflow.io import MovieMetadata, gather_label_chunks, label_scale, read_json, reopen_movie, write_json
from marrowflow.io.given_labels import write_given_labels
from marrowflow.segment.movie import resolve_movie_params, segment_movie, segmentation_record
from marrowflow.segment.segmenter import SegmentationParams
from marrowflow.workflow.config import segmentation_channel
from marrowflow.workflow.step import run_step


def main(smk):
    chunks = list(smk.input.get("chunks", []))
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    given = smk.params.get("labels", "")
    record = smk.output.get("record")
    if given:
        renumbered = write_given_labels(given, smk.output[0], n_frames=meta.n_frames, shape_zyx=meta.shape_zyx,
                                        scale=label_scale(meta))
        logging.getLogger("marrowflow").info("labels from %s (sample sheet column `labels`); %d frame(s) "
                                             "renumbered to 1..N", given, renumbered)
        if record:
            write_json({"labels": given, "backend": None, "estimate": None, "parameters": None}, record)
        return
    params = SegmentationParams.from_config(smk.params.segmentation)
    channel = segmentation_channel({"channels": smk.params.channels,
                                    "segmentation": smk.params.segmentation}, meta.channel_names)
    frames = range(int(smk.wildcards.start), int(smk.wildcards.stop)) if "start" in smk.wildcards.keys() else None
    with reopen_movie(meta) as movie:
        # estimated from frames across the whole movie: every chunk of a split run gets the same
        params, estimate = resolve_movie_params(movie, params, channel=channel, threads=smk.threads)
        if chunks:
            gather_label_chunks(chunks, smk.output[0], scale=label_scale(meta))
        else:
            segment_movie(movie, params, channel=channel, out_path=smk.output[0], frames=frames,
                          threads=smk.threads)
    if record:
        # the preset's name from the config, not a rule parameter: renaming a preset of the same
        # values does not rerun segmentation (SEGMENTATION holds the values)
        preset = (smk.config.get("segmentation", {}).get("classic") or {}).get("preset", "auto")
        write_json(segmentation_record(params, estimate, preset=preset), record)


run_step(snakemake, main)  # noqa: F821
