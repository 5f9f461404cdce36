"""Export tracks in the Cell Tracking Challenge result layout (res_track.txt + maskNNN.tif)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marrowflow.io import atomic_dir, atomic_write, open_labels, write_ctc_masks
from marrowflow.review.apply import apply_label_review
from marrowflow.review.files import Review
from marrowflow.track.ctc import relabel_frame, tracks_to_ctc


def write_ctc_results(tracks: pd.DataFrame, labels_path: str | Path, out_dir: str | Path, *,
                      review: Review | None = None) -> None:
    """Write `out_dir/res_track.txt` and one track-id mask per frame, all or nothing.

    `review`: reviewed label frames replace the segmentation's (the cells table was measured on
    them, so the masks must show them too).
    The folder is built under a temporary name next to `out_dir` and renamed when complete, so a
    killed job never leaves a folder that looks finished; the next export removes the temporary
    folder of a killed one (`marrowflow.io.atomic_dir`).
    """
    with atomic_dir(out_dir) as tmp:
        by_frame = dict(tuple(tracks.groupby("frame")))
        with open_labels(labels_path) as labels:
            for t in range(labels.n_frames):
                frame_tracks = by_frame.get(t, tracks.iloc[0:0])
                frame = labels.read_frame(t)
                if review is not None:
                    frame = apply_label_review(frame, t, review)
                write_ctc_masks(tmp, t, relabel_frame(frame, frame_tracks))
        lbep = tracks_to_ctc(tracks)
        with atomic_write(tmp / "res_track.txt") as res:
            lbep[["label", "begin", "end", "parent"]].to_csv(res, sep=" ", header=False, index=False)
