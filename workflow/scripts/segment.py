"""Rule segment: segment the configured channel frame by frame into labels.tif."""
from pipeline.config import segmentation_channel
from pipeline.io import MovieMetadata, open_movie, read_json
from pipeline.segment_stack import segment_movie
from pipeline.step import run_step


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    channel = segmentation_channel({"channels": smk.params.channels,
                                    "segmentation": smk.params.segmentation}, meta.channel_names)
    with open_movie(meta.path, axes=meta.axes, channel_names=meta.channel_names) as movie:
        segment_movie(movie, smk.params.segmentation, channel=channel, out_path=smk.output[0])


run_step(snakemake, main)  # noqa: F821
