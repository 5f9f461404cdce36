"""CTC export of tracks: res_track.txt + maskNNN.tif, reviewed frames, all or nothing."""

import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import InputError
from marrowflow.io import LabelStackWriter
from marrowflow.io.atomic import _HOST
from marrowflow.review.files import Review
from marrowflow.track.ctc_export import write_ctc_results


def _labels(path):
    frames = np.zeros((3, 20, 20), np.uint32)
    frames[:, 2:6, 2:6] = 1          # one cell in every frame
    frames[2, 10:14, 10:14] = 2      # a second cell in frame 2
    with LabelStackWriter(path, 3, (20, 20)) as writer:
        for t in range(3):
            writer.write(t, frames[t])
    return frames


def _tracks():
    return pd.DataFrame({"frame": [0, 1, 2, 2], "label": [1, 1, 1, 2], "track_id": [5, 5, 6, 7],
                         "parent_track_id": [0, 0, 5, 5]})


def test_masks_carry_track_ids_and_res_track_lists_tracks(tmp_path):
    _labels(tmp_path / "labels.tif")
    write_ctc_results(_tracks(), tmp_path / "labels.tif", tmp_path / "ctc")
    masks = [tifffile.imread(tmp_path / "ctc" / f"mask{t:03d}.tif") for t in range(3)]
    assert masks[0][3, 3] == 5 and masks[2][3, 3] == 6 and masks[2][11, 11] == 7
    res = np.loadtxt(tmp_path / "ctc" / "res_track.txt", dtype=int, ndmin=2).tolist()
    assert sorted(res) == [[5, 0, 1, 0], [6, 2, 2, 5], [7, 2, 2, 5]]


def test_reviewed_frames_replace_the_segmentation(tmp_path):
    _labels(tmp_path / "labels.tif")
    reviewed = np.zeros((20, 20), np.uint32)
    reviewed[2:6, 2:6] = 1
    reviewed[15:18, 15:18] = 2       # the reviewer moved cell 2
    review = Review(reviewed_frames=[2], label_frames={2: reviewed})
    write_ctc_results(_tracks(), tmp_path / "labels.tif", tmp_path / "ctc", review=review)
    mask = tifffile.imread(tmp_path / "ctc" / "mask002.tif")
    assert mask[16, 16] == 7 and mask[11, 11] == 0


def test_a_failure_leaves_no_folder_and_keeps_an_earlier_one(tmp_path):
    _labels(tmp_path / "labels.tif")
    write_ctc_results(_tracks(), tmp_path / "labels.tif", tmp_path / "ctc")
    before = (tmp_path / "ctc" / "res_track.txt").read_bytes()
    with pytest.raises(InputError, match="missing.tif"):
        write_ctc_results(_tracks(), tmp_path / "missing.tif", tmp_path / "ctc")
    assert (tmp_path / "ctc" / "res_track.txt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctc", "labels.tif"]


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def test_a_killed_exports_folder_is_removed_and_a_live_ones_kept(tmp_path):
    _labels(tmp_path / "labels.tif")
    dead = tmp_path / f".tmp.{_dead_pid()}.{_HOST}.0123abcd.ctc"
    live = tmp_path / f".tmp.{os.getpid()}.{_HOST}.4567cdef.ctc"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "mask000.tif").write_bytes(b"half written")
    write_ctc_results(_tracks(), tmp_path / "labels.tif", tmp_path / "ctc")
    assert not dead.exists() and (live / "mask000.tif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "ctc", "labels.tif"])


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_the_folder_has_the_permissions_the_umask_allows(tmp_path, umask):
    _labels(tmp_path / "labels.tif")
    old = os.umask(umask)
    try:
        write_ctc_results(_tracks(), tmp_path / "labels.tif", tmp_path / "ctc")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ctc").stat().st_mode) == 0o777 & ~umask
