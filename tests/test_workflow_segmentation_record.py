"""segmentation.json: what the segment step assumed and used, with `preset: auto` estimated from
the movie (and the same parameters for every chunk of a split segmentation)."""

import json

import pytest
import tifffile

from marrowflow.segment.classic import ClassicParams

from workflow_helpers import run_snakemake, tiny_demo_row, write_project


def test_the_demo_records_its_estimates_and_parameters(tiny_demo_project):
    record = json.loads((tiny_demo_project / "results" / "tiny" / "segmentation.json").read_text())
    assert record["backend"] == "classic" and record["preset"] == "auto"
    assert record["estimate"]["polarity"] == "bright" and record["estimate"]["frames"] == [0, 6, 11]
    assert record["parameters"]["smooth_sigma_um"] == pytest.approx(record["estimate"]["diameter"] / 25, rel=1e-3)


def test_a_named_preset_is_recorded_without_estimates(tmp_path):
    project = write_project(tmp_path, [tiny_demo_row()], config_updates={
        "segmentation": {"channel": "nuclei", "classic": {"preset": None}}})
    result = run_snakemake(project, "results/tiny/segmentation.json")
    assert result.returncode == 0, result.stderr[-4000:]
    record = json.loads((project / "results" / "tiny" / "segmentation.json").read_text())
    assert record["preset"] is None and record["estimate"] is None
    assert record["parameters"]["smooth_sigma_um"] == ClassicParams().smooth_sigma_um


def test_auto_is_estimated_once_and_split_jobs_segment_alike(tmp_path):
    auto = {"segmentation": {"channel": "nuclei", "classic": {"preset": "auto", "min_contrast_snr": 5.0}}}
    whole = write_project(tmp_path / "whole", [tiny_demo_row()], config_updates=auto)
    split = write_project(tmp_path / "split", [tiny_demo_row()],
                          config_updates={**auto, "jobs": {"segment_frames_per_job": 5, "threads_per_sample": 1}})
    for project in (whole, split):
        result = run_snakemake(project, "results/tiny/segmentation.json")
        assert result.returncode == 0, result.stderr[-4000:]
    records = [json.loads((p / "results" / "tiny" / "segmentation.json").read_text()) for p in (whole, split)]
    estimate = records[0]["estimate"]
    assert records[0]["preset"] == "auto" and estimate["polarity"] == "bright"
    assert estimate["frames"] == [0, 6, 11] and estimate["units"] == "um"
    # the demo's nuclei: radius 7 px before division (5 px newborn) at 0.65 µm per pixel
    assert 5.0 <= estimate["diameter"] <= 10.0
    assert records[0]["parameters"]["min_contrast_snr"] == 5.0  # the explicit key wins
    assert records[0]["parameters"]["seed_h_um"] != ClassicParams().seed_h_um  # estimated
    assert records[1] == records[0]
    labels = [tifffile.imread(p / "results" / "tiny" / "labels.tif") for p in (whole, split)]
    assert (labels[0] == labels[1]).all() and labels[0].max() > 0
