"""Rule track: link cells into tracks with divisions (honouring reviewed links; method motile, or
auto where the cells are crowded, with the masks' overlaps; positions corrected by drift.csv when
tracking.drift_correction is on), smooth types along tracks, write the tracks table and the CTC
results (reviewed label frames included)."""
from marrowflow.classify.track_vote import TrackVoteParams, vote_along_tracks
from marrowflow.io import MovieMetadata, open_labels, read_json, read_table, write_table
from marrowflow.review.apply import apply_label_review, apply_track_review, review_fixed_links
from marrowflow.review.files import load_review
from marrowflow.review.geff_import import apply_geff_review
from marrowflow.track.costs import movie_overlaps
from marrowflow.track.ctc_export import write_ctc_results
from marrowflow.track.drift import drift_array
from marrowflow.track.linking import TrackingParams, chosen_method, track_cells
from marrowflow.workflow.step import run_step


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    tracking = TrackingParams.from_config(smk.params.tracking, pixel_size_um=meta.pixel_size_um,
                                          time_step_h=meta.time_step_h, z_step_um=meta.z_step_um)
    vote = TrackVoteParams.from_config(smk.params.track_vote)
    cells = read_table(smk.input.cells)
    review = load_review(smk.params.review_dir)
    drift = read_table(smk.input.drift[0]) if smk.input.drift else None
    overlaps = None
    # mask overlaps of consecutive frames (reviewed frames included) for motile, also when auto picks it
    if chosen_method(cells, tracking) == "motile":
        with open_labels(smk.input.labels) as labels:
            shift = drift_array(drift, labels.n_frames) if drift is not None else None
            overlaps = movie_overlaps((apply_label_review(labels.read_frame(t), t, review)
                                       for t in range(labels.n_frames)), drift=shift)
    tracks = track_cells(cells, tracking, overlaps=overlaps, drift=drift,
                         fixed_links=review_fixed_links(review, cells) if len(review.track_edits) else None)
    if len(review.track_edits):
        tracks = apply_track_review(tracks, review)
    if smk.input.review_geff:  # reviews/<sample>/tracks.geff: the reviewed graph wins
        tracks = apply_geff_review(tracks, cells, smk.input.review_geff[0])
    tracks = vote_along_tracks(tracks, vote)
    write_ctc_results(tracks, smk.input.labels, smk.output.ctc, review=review)
    write_table(tracks, smk.output.tracks)


run_step(snakemake, main)  # noqa: F821
