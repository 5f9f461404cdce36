"""Rules segment / segment_chunk: segment frames of the configured channel into a label stack,
or gather the chunk stacks of a split segmentation in order."""
from marrowflow.io import MovieMetadata, gather_label_chunks, read_json, reopen_movie
from marrowflow.segment.movie import segment_movie
from marrowflow.segment.segmenter import SegmentationParams
from marrowflow.workflow.config import segmentation_channel
from marrowflow.workflow.step import run_step


def main(smk):
    chunks = list(smk.input.get("chunks", []))
    if chunks:
        gather_label_chunks(chunks, smk.output[0])
        return
    params = SegmentationParams.from_config(smk.params.segmentation)
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    channel = segmentation_channel({"channels": smk.params.channels,
                                    "segmentation": smk.params.segmentation}, meta.channel_names)
    frames = range(int(smk.wildcards.start), int(smk.wildcards.stop)) if "start" in smk.wildcards.keys() else None
    with reopen_movie(meta) as movie:
        segment_movie(movie, params, channel=channel, out_path=smk.output[0], frames=frames)


run_step(snakemake, main)  # noqa: F821
