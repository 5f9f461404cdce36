"""Rule train_segmentation: cellpose weights from the reviewed label frames of every sample."""
from pathlib import Path

from marrowflow.workflow.config import segmentation_channel
from marrowflow.errors import InputError
from marrowflow.io import open_movie
from marrowflow.workflow.step import run_step
from marrowflow.segment.train import collect_reviewed_frames, train_cellpose


def main(smk):
    if not smk.params.samples:
        raise InputError(f"no reviewed label frames under {smk.params.reviews}/<sample>/reviewed_frames.txt; "
                         "review and save some frames in napari first")
    config = smk.params.config
    images, masks = [], []
    for sample, movie_path, channels in zip(smk.params.samples, smk.input.movies, smk.params.channels):
        with open_movie(movie_path, axes=config["image"]["axes"], channel_names=channels) as movie:
            more_images, more_masks = collect_reviewed_frames([Path(smk.params.reviews) / sample], [movie],
                                                              channel=segmentation_channel(config, channels))
        images += more_images
        masks += more_masks
    settings = config["training"]["segmentation"]
    train_cellpose(images, masks, out_dir=Path(smk.output.weights).parent, base_weights=settings["base_weights"],
                   epochs=settings["epochs"], seed=settings["seed"], contrast_copies=settings["contrast_copies"])


run_step(snakemake, main)  # noqa: F821
