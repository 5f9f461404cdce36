"""Rule track: link cells into tracks with divisions, write CTC results, smooth types along tracks."""
from pipeline.io import MovieMetadata, read_json, read_table, write_table
from pipeline.review import apply_track_review, load_review
from pipeline.step import run_step
from pipeline.ctc_export import write_ctc_results
from pipeline.track import track_cells
from pipeline.track_vote import vote_along_tracks


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    cells = read_table(smk.input.cells)
    tracks = track_cells(cells, smk.params.tracking, pixel_size_um=meta.pixel_size_um,
                         time_step_h=meta.time_step_h)
    if smk.input.review_tracks:
        tracks = apply_track_review(tracks, load_review(smk.params.review_dir))
    tracks = vote_along_tracks(tracks, smk.params.classification)
    write_ctc_results(tracks, smk.input.labels, smk.output.ctc)
    write_table(tracks, smk.output.tracks)


run_step(snakemake, main)  # noqa: F821
