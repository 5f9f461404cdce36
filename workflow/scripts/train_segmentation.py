"""Rule train_segmentation: cellpose weights from the reviewed label frames of every sample."""
from pathlib import Path

from marrowflow.errors import InputError
from marrowflow.io import open_movie
from marrowflow.segment.train import SegmentationTrainingParams, collect_reviewed_frames, train_cellpose
from marrowflow.workflow.config import segmentation_channel
from marrowflow.workflow.step import run_step


def main(smk):
    params = SegmentationTrainingParams.from_config(smk.params.training)
    if not smk.params.samples:
        raise InputError(f"no reviewed label frames under {smk.params.reviews}/<sample>/reviewed_frames.txt; "
                         "review and save some frames in napari first")
    images, masks = [], []
    for sample, movie_path, channels in zip(smk.params.samples, smk.input.movies, smk.params.channels):
        with open_movie(movie_path, axes=smk.params.axes, channel_names=channels) as movie:
            channel = segmentation_channel(smk.params.channel_choice, channels)
            more_images, more_masks = collect_reviewed_frames([Path(smk.params.reviews) / sample], [movie],
                                                              channel=channel)
        images += more_images
        masks += more_masks
    train_cellpose(images, masks, params, out_dir=Path(smk.output.weights).parent)


run_step(snakemake, main)  # noqa: F821
