"""Rule track: link cells into tracks with divisions (honouring reviewed links), smooth types
along tracks, write the tracks table and the CTC results (reviewed label frames included)."""
from marrowflow.classify.track_vote import TrackVoteParams, vote_along_tracks
from marrowflow.io import MovieMetadata, read_json, read_table, write_table
from marrowflow.review.apply import apply_track_review, review_fixed_links
from marrowflow.review.files import load_review
from marrowflow.track.ctc_export import write_ctc_results
from marrowflow.track.linking import TrackingParams, track_cells
from marrowflow.workflow.step import run_step


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    tracking = TrackingParams.from_config(smk.params.tracking, pixel_size_um=meta.pixel_size_um,
                                          time_step_h=meta.time_step_h, z_step_um=meta.z_step_um)
    vote = TrackVoteParams.from_config(smk.params.track_vote)
    cells = read_table(smk.input.cells)
    review = load_review(smk.params.review_dir)
    tracks = track_cells(cells, tracking,
                         fixed_links=review_fixed_links(review, cells) if len(review.track_edits) else None)
    if len(review.track_edits):
        tracks = apply_track_review(tracks, review)
    tracks = vote_along_tracks(tracks, vote)
    write_ctc_results(tracks, smk.input.labels, smk.output.ctc, review=review)
    write_table(tracks, smk.output.tracks)


run_step(snakemake, main)  # noqa: F821
