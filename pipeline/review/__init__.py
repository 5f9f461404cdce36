"""Human review of a sample (`reviews/<sample>/`): the files, applying them to the tables, and
the track-edit algebra the napari plugin uses. No Qt here."""

from marrowflow.review.apply import (
    apply_label_review,
    apply_track_review,
    apply_type_review,
    review_fixed_links,
)
from marrowflow.review.files import (
    FILES,
    Review,
    ReviewWarning,
    empty_edits,
    empty_types,
    load_review,
    merge_reviews,
    read_review_log,
    save_review,
)
from marrowflow.review.track_edits import (
    apply_track_edits,
    delete_track,
    join_tracks,
    remove_parent,
    set_parent,
    split_track,
    track_of,
    type_edits,
)

__all__ = [
    "FILES", "Review", "ReviewWarning", "apply_label_review", "apply_track_edits",
    "apply_track_review", "apply_type_review", "delete_track", "empty_edits", "empty_types",
    "join_tracks", "load_review", "merge_reviews", "read_review_log", "remove_parent",
    "review_fixed_links", "save_review", "set_parent", "split_track", "track_of", "type_edits",
]
