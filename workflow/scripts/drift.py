"""Rule drift: the stage drift of the nuclear channel (tracking.drift_correction) and its figure."""
from marrowflow.io import MovieMetadata, read_json, reopen_movie, write_table
from marrowflow.report import save_figure
from marrowflow.report.drift_plot import plot_drift
from marrowflow.track.drift import estimate_drift
from marrowflow.workflow.config import segmentation_channel
from marrowflow.workflow.step import run_step


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    channel = segmentation_channel({"channels": smk.params.channels, "segmentation": smk.params.segmentation},
                                   meta.channel_names)
    with reopen_movie(meta) as movie:
        drift = estimate_drift(frame[channel] for frame in movie)
    write_table(drift, smk.output.drift)
    save_figure(plot_drift(drift), smk.output.plot)


run_step(snakemake, main)  # noqa: F821
