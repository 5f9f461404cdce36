"""Tracking: linking cells into tracks with divisions, and the track formats (CTC, napari)."""

from marrowflow.track.ctc import check_ctc, relabel_frame, split_gaps, tracks_to_ctc
from marrowflow.track.ctc_export import write_ctc_results
from marrowflow.track.linking import TrackingParams, chosen_method, track_cells
from marrowflow.track.napari import napari_tracks

__all__ = [
    "TrackingParams", "check_ctc", "chosen_method", "napari_tracks", "relabel_frame", "split_gaps", "track_cells",
    "tracks_to_ctc", "write_ctc_results",
]
