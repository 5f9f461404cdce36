"""The sample sheet's `labels` column: a sample's own segmentation instead of segmenting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import ConfigError, InputError
from marrowflow.io import open_labels
from marrowflow.io.given_labels import (
    GivenLabels,
    check_given_labels,
    consecutive_labels,
    label_files,
    write_given_labels,
)
from marrowflow.synthetic import OrganoidParams, simulate_organoid, write_synthetic
from marrowflow.workflow.config import validate_config
from marrowflow.workflow.samples import read_sample_sheet

from workflow_helpers import run_snakemake, write_project


def _frames(n=4, shape=(20, 24)):
    """n frames of 2 to 3 square objects with scattered ids (like CTC track ids)."""
    out = np.zeros((n, *shape), np.uint16)
    for t in range(n):
        out[t, 2:6, 2:6] = 7 + t
        out[t, 10:14, 3 + t:7 + t] = 300
        if t % 2:
            out[t, 15:18, 15:20] = 41
    return out


def _save(path, data: np.ndarray) -> None:
    tifffile.imwrite(path, data, photometric="minisblack")


def _same_objects(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images hold the same objects (pixel sets), whatever their ids."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(set(pairs[0])) == len(set(pairs[1])) == pairs.shape[1]


def test_consecutive_labels_renumbers_only_when_needed():
    kept = np.array([[0, 1], [2, 2]], np.uint16)
    assert np.array_equal(consecutive_labels(kept), kept)
    assert consecutive_labels(kept).dtype == np.uint32
    gaps = np.array([[0, 300], [7, 7]], np.uint16)
    assert np.array_equal(consecutive_labels(gaps), [[0, 2], [1, 1]])
    assert not consecutive_labels(np.zeros((2, 2), np.int32)).any()


def test_a_stack_is_read_frame_by_frame_relabelled(tmp_path):
    frames = _frames()
    _save(tmp_path / "labels.tif", frames)
    given = GivenLabels(tmp_path / "labels.tif", 4, (20, 24))
    for t, frame in enumerate(given):
        assert frame.dtype == np.uint32 and frame.max() == len(np.unique(frames[t])) - 1
        assert _same_objects(frame, frames[t])
    out = tmp_path / "out.tif"
    assert write_given_labels(tmp_path / "labels.tif", out, n_frames=4, shape_zyx=(20, 24)) == 4
    with open_labels(out) as stack:
        assert all(_same_objects(stack.read_frame(t), frames[t]) for t in range(4))
    zarr_out = tmp_path / "labels.ome.zarr"  # output.format: ome-zarr
    write_given_labels(tmp_path / "labels.tif", zarr_out, n_frames=4, shape_zyx=(20, 24), scale=(1.0, 0.5, 0.5))
    with open_labels(zarr_out) as stack:
        assert all(_same_objects(stack.read_frame(t), frames[t]) for t in range(4))
    # all frames in one page (not one page per plane): read whole, frames the same
    tifffile.imwrite(tmp_path / "one_page.tif", frames, photometric="minisblack", planarconfig="separate")
    one_page = GivenLabels(tmp_path / "one_page.tif", 4, (20, 24))
    assert all(np.array_equal(one_page.raw_frame(t), frames[t]) for t in range(4))


def test_a_ctc_folder_is_read_in_natural_order_ignoring_other_files(tmp_path):
    frames = _frames(n=12)
    for t, frame in enumerate(frames):
        _save(tmp_path / f"mask{t}.tif", frame)  # mask2 before mask10 only in natural order
    (tmp_path / "man_track.txt").write_text("7 0 0 0\n")
    assert [p.name for p in label_files(tmp_path)][:3] == ["mask0.tif", "mask1.tif", "mask2.tif"]
    given = GivenLabels(tmp_path, 12, (20, 24))
    assert all(_same_objects(given.read_frame(t), frames[t]) for t in range(12))


def test_3d_and_singleton_axes(tmp_path):
    stack = np.stack([_frames(n=3)] * 2, axis=1)  # (T, Z, Y, X)
    _save(tmp_path / "zstack.tif", stack)
    given = GivenLabels(tmp_path / "zstack.tif", 3, (2, 20, 24))
    assert given.read_frame(2).shape == (2, 20, 24)
    assert _same_objects(given.read_frame(1)[1], stack[1, 1])
    _save(tmp_path / "tcyx.tif", _frames(n=3)[:, None])  # (T, 1, Y, X) fits a 2D movie
    assert _same_objects(GivenLabels(tmp_path / "tcyx.tif", 3, (20, 24)).read_frame(0), _frames(n=3)[0])


def test_shape_mismatches_name_the_file(tmp_path):
    _save(tmp_path / "labels.tif", _frames())
    with pytest.raises(InputError, match=r"labels\.tif: expected labels of shape .*\(5, 20, 24\).*found shape "
                                         r"\(4, 20, 24\)"):
        check_given_labels(tmp_path / "labels.tif", 5, (20, 24))
    with pytest.raises(InputError, match=r"labels\.tif.*\(4, 20, 25\)"):
        check_given_labels(tmp_path / "labels.tif", 4, (20, 25))
    folder = tmp_path / "TRA"
    folder.mkdir()
    for t, frame in enumerate(_frames()):
        _save(folder / f"man_track{t:03d}.tif", frame if t != 2 else frame[:, :20])
    with pytest.raises(InputError, match=r"man_track002\.tif: expected one frame of shape .*\(20, 24\).*"
                                         r"found shape \(20, 20\)"):
        check_given_labels(folder, 4, (20, 24))
    with pytest.raises(InputError, match=r"TRA: expected 3 label TIFFs .*found 4"):
        check_given_labels(folder, 3, (20, 24))
    _save(tmp_path / "float.tif", _frames().astype(np.float32))
    with pytest.raises(InputError, match="float.tif: expected integer labels"):
        check_given_labels(tmp_path / "float.tif", 4, (20, 24))
    with pytest.raises(InputError, match="nothing at this path"):
        label_files(tmp_path / "missing.tif")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="found none"):
        label_files(tmp_path / "empty")
    _save(tmp_path / "negative.tif", -_frames().astype(np.int16))
    with pytest.raises(InputError, match="negative.tif: expected labels >= 0"):
        GivenLabels(tmp_path / "negative.tif", 4, (20, 24)).read_frame(0)


def test_the_sample_sheet_checks_that_the_labels_exist(tmp_path, repo_root):
    import yaml

    config = validate_config(yaml.safe_load((repo_root / "config.yaml").read_text()))
    (tmp_path / "movie.tif").write_bytes(b"")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tpath\tlabels\nA\tmovie.tif\tseg/A.tif\nB\tmovie.tif\t\n")
    with pytest.raises(ConfigError, match=r"line 2 \(sample 'A'\): labels 'seg/A.tif'.*does not exist"):
        read_sample_sheet(sheet, config, base_dir=tmp_path)
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "A.tif").write_bytes(b"")
    table = read_sample_sheet(sheet, config, base_dir=tmp_path)
    assert table.loc["A", "labels"] == "seg/A.tif" and table.loc["B", "labels"] == ""


def _sheet(project, labels):
    (project / "samples.tsv").write_text("sample\tpath\tcondition\tlabels\n"
                                         f"own\tmovie.ome.tif\tcontrol\t{labels}\n")


def test_workflow_uses_the_given_labels_and_reruns_when_they_change(tmp_path):
    """End to end: a CTC TRA folder as `labels` replaces segmentation; every later step uses its
    objects; an edited label file reruns the segment rule; a shape mismatch stops the run before
    any job, naming the labels file."""
    project = write_project(tmp_path / "project", [])
    sim = simulate_organoid(OrganoidParams(seed=5, n_frames=6, size=(128, 128), n_founders=6))
    write_synthetic(sim, project / "movie.ome.tif", project / "GT")  # GT/TRA: man_trackNNN.tif + man_track.txt
    _sheet(project, "GT/TRA")
    result = run_snakemake(project, "results/own/tracks.parquet")
    assert result.returncode == 0, result.stderr[-4000:]
    tracks = pd.read_parquet(project / "results" / "own" / "tracks.parquet")
    with open_labels(project / "results" / "own" / "labels.tif") as stack:
        for t in range(6):
            frame = stack.read_frame(t)
            assert _same_objects(frame, sim.labels[t]), t
            assert sorted(tracks.loc[tracks["frame"] == t, "label"]) == sorted(set(np.unique(frame)) - {0})

    edited = project / "GT" / "TRA" / "man_track003.tif"
    mask = tifffile.imread(edited)
    mask[mask == mask.max()] = 0
    _save(edited, mask)
    dry = run_snakemake(project, "results/own/tracks.parquet", "--dry-run")
    assert dry.returncode == 0 and "rule segment:" in dry.stdout, dry.stdout[-3000:]

    _save(project / "short.tif", sim.labels[:5])
    _sheet(project, "short.tif")
    bad = run_snakemake(project, "results/own/tracks.parquet", "--dry-run")
    assert bad.returncode != 0
    assert "sample own (short.tif)" in bad.stderr and "expected labels of shape" in bad.stderr, bad.stderr[-3000:]
    assert "(6, 128, 128)" in bad.stderr and "found shape (5, 128, 128)" in bad.stderr
