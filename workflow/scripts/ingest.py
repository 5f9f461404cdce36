"""Rule ingest: read the movie's metadata, check it against the config, write metadata.json."""
from marrowflow.io import open_movie, write_json
from marrowflow.workflow.step import run_step


def main(smk):
    image = smk.params.image
    with open_movie(smk.input.movie, axes=image["axes"], channel_names=list(smk.params.channels),
                    pixel_size_um=image["pixel_size_um"], time_step_h=image["time_step_h"],
                    z_step_um=image["z_step_um"]) as movie:
        write_json(movie.metadata.to_dict(), smk.output[0])


run_step(snakemake, main)  # noqa: F821
