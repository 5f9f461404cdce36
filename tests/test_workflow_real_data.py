"""The workflow on real Cell Tracking Challenge data read from ../shared/data (never copied)."""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from workflow_helpers import run_snakemake, write_project

pytestmark = pytest.mark.slow


def _linked_frames(source, target, n_frames):
    """A per-frame folder of symbolic links to the first `n_frames` frames of `source`."""
    target.mkdir(parents=True)
    for t in range(n_frames):
        (target / f"t{t:03d}.tif").symlink_to(source / f"t{t:03d}.tif")
    return target


def _run(project, rows, preset, pixel_size_um, time_step_h):
    """Run the workflow; CTC frames carry no metadata, so the config gives pixel size and time step."""
    image = {"axes": None, "pixel_size_um": pixel_size_um, "time_step_h": time_step_h, "z_step_um": None}
    write_project(project, rows, config_updates={"demo": {}, "image": image,
                                                  "segmentation": {"classic": {"preset": preset}}})
    return run_snakemake(project, timeout=1500)


def _results(result, project):
    assert result.returncode == 0, result.stderr[-4000:]
    return project / "results"


def test_simplus_with_ground_truth_is_segmented_tracked_and_evaluated(tmp_path, shared_data):
    data = shared_data / "ctc-Fluo-N2DH-SIM+"
    rows = [{"sample": "simplus", "path": data / "01", "condition": "sim", "ground_truth": data / "01_GT",
             "channels": "nuclei"}]
    results = _results(_run(tmp_path, rows, "fluo_nuclei_widefield", 0.125, None), tmp_path)
    evaluation = json.loads((results / "simplus" / "evaluation.json").read_text())["ctc"]
    # the targets from the pipeline's own segmentation (measured: SEG 0.881, TRA 0.998,
    # BC(2) 0.98, CT 0.85)
    assert evaluation["SEG"] >= 0.88 and evaluation["DET"] > 0.99
    assert evaluation["TRA"] >= 0.99 and evaluation["BC(2)"] >= 0.90 and evaluation["CT"] >= 0.80
    counts = pd.read_csv(results / "simplus" / "counts.csv")
    assert counts["frame"].nunique() == 65
    # one channel, no markers: every cell is 'unknown', and every frame has cells
    assert set(counts.loc[counts["n"] > 0, "cell_type"]) == {"unknown"}
    assert (counts.groupby("frame")["n"].sum() > 10).all()


def test_gowt1_uint8_frames_and_msc_whole_cells_run_through(tmp_path, shared_data):
    gowt1 = _linked_frames(shared_data / "ctc-Fluo-N2DH-GOWT1" / "01", tmp_path / "gowt1 frames", 12)
    project = tmp_path / "gowt1"
    sheet = [{"sample": "gowt1", "path": gowt1, "channels": "nuclei"}]
    results = _results(_run(project, sheet, "fluo_nuclei", 0.24, 5 / 60), project)
    meta = json.loads((results / "gowt1" / "metadata.json").read_text())
    assert (meta["n_frames"], meta["shape_zyx"], meta["dtype"]) == (12, [1024, 1024], "uint8")
    # every annotated nucleus (TRA markers) of these frames lies on a tracked object
    labels = tifffile.imread(results / "gowt1" / "labels.tif")
    tracks = pd.read_parquet(results / "gowt1" / "tracks.parquet")
    found = total = objects = 0
    for t in range(12):
        markers = tifffile.imread(shared_data / "ctc-Fluo-N2DH-GOWT1" / "01_GT" / "TRA" / f"man_track{t:03d}.tif")
        for marker in np.unique(markers)[1:]:
            under = labels[t][markers == marker]
            found += bool(np.isin(under, tracks.loc[tracks["frame"] == t, "label"]).any())
            total += 1
        objects += int(labels[t].max())
    assert found >= 0.95 * total
    # and few extra objects: the contrast filter drops the noise blobs (without it: ~1.7x the nuclei)
    assert objects <= 1.25 * total

    msc = shared_data / "ctc-Fluo-C2DL-MSC-segsubset" / "01"
    # the folder holds only the annotated frames 5, 7, 9, ...: a clear error names the gap, found
    # when the workflow plans the run (workflow.preflight reads the movie's header), before any job
    gaps = _run(tmp_path / "msc_gaps", [{"sample": "msc", "path": msc, "channels": "cells"}], "whole_cell", 0.3, 1 / 3)
    assert gaps.returncode != 0
    assert "sample msc (" in gaps.stderr and "25 missing: 6, 8, 10" in gaps.stderr
    assert not (tmp_path / "msc_gaps" / "results").exists()
    msc_frames = tmp_path / "msc frames"
    msc_frames.mkdir()
    for t, source in enumerate(sorted(msc.glob("t*.tif"))[:6]):
        (msc_frames / f"t{t:03d}.tif").symlink_to(source)
    project = tmp_path / "msc"
    sheet = [{"sample": "msc", "path": msc_frames, "channels": "cells"}]
    results = _results(_run(project, sheet, "whole_cell", 0.3, 1 / 3), project)
    cells = pd.read_parquet(results / "msc" / "cells.parquet")
    assert cells["frame"].nunique() == 6 and cells.groupby("frame").size().between(2, 40).all()
