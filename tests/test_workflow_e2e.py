"""The whole workflow, end to end, on a tiny synthetic organoid with ground truth."""

import json

import pandas as pd
import pytest
import tifffile
import yaml

from marrowflow.synthetic import OrganoidParams, simulate_organoid, true_counts

from workflow_helpers import TINY_DEMO, run_snakemake, tiny_demo_row, write_project

LINEAGE_MARKER = {"erythroid": "CD235a", "myeloid": "MPO", "megakaryocyte": "CD41"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tiny_demo_project):
    return tiny_demo_project


def test_every_step_writes_its_outputs(tiny_run):
    sample = tiny_run / "results" / "tiny"
    for name in ["metadata.json", "labels.tif", "cells.parquet", "cells_typed.parquet", "thresholds.csv",
                 "tracks.parquet", "ctc/res_track.txt", "lineages.parquet", "counts.csv",
                 "lineage_counts.csv", "fate_map.csv", "production_rates.csv", "evaluation.json",
                 "report/counts.png", "report/lineage_tree.png", "report/marker_thresholds.png"]:
        assert (sample / name).is_file(), name
    assert (tiny_run / "results" / "summary" / "counts.csv").is_file()
    assert (tiny_run / "results" / "summary" / "counts_by_condition.png").is_file()
    assert tifffile.imread(sample / "labels.tif").shape == (12, 160, 160)


def _cells_in_transition(params):
    """Per frame and type, committed cells whose lineage marker has risen to 20-50% of its full
    level: the truth still calls them progenitors (it switches at 50%), a marker gate already
    sees the marker."""
    truth = simulate_organoid(OrganoidParams.from_config(params)).truth
    level = truth.apply(lambda r: r.get(f"level_{LINEAGE_MARKER.get(r['fate'], 'CD34')}", 0.0), axis=1)
    moving = truth[(truth["fate"] != "progenitor") & level.between(0.2, 0.5, inclusive="left")]
    both = pd.concat([moving.assign(cell_type=moving["fate"]), moving.assign(cell_type="progenitor")])
    return both.groupby(["frame", "cell_type"]).size().rename("n_transition").reset_index()


def test_counts_per_type_per_frame_match_the_truth(tiny_run):
    counts = pd.read_csv(tiny_run / "results" / "tiny" / "counts.csv")
    gt_types = pd.read_csv(tiny_run / "resources" / "demo" / "tiny" / "GT" / "cell_types.csv")
    truth = true_counts(gt_types, 0.5)
    merged = truth.merge(counts, on=["frame", "cell_type"], how="left", suffixes=("_true", "")).fillna({"n": 0})
    merged = merged.merge(_cells_in_transition(TINY_DEMO), on=["frame", "cell_type"], how="left")
    merged["n_transition"] = merged["n_transition"].fillna(0)
    assert len(merged) == 12 * 4
    # every type in every frame within 10% of the truth (one cell of slack where counts are tiny),
    # plus the cells caught mid-switch between progenitor and their lineage
    slack = (merged["n_true"] * 0.10).clip(lower=1) + merged["n_transition"]
    bad = merged[(merged["n"] - merged["n_true"]).abs() > slack]
    assert bad.empty, bad.to_string()
    assert merged["n_transition"].sum() < 0.1 * merged["n_true"].sum()  # the slack stays small


def test_evaluation_holds_ctc_measures(tiny_run):
    evaluation = json.loads((tiny_run / "results" / "tiny" / "evaluation.json").read_text())
    flat = json.dumps(evaluation)
    for key in ["SEG", "DET", "TRA"]:
        assert f'"{key}"' in flat, key
    ctc = evaluation["ctc"] if "ctc" in evaluation else evaluation
    assert ctc["TRA"] > 0.9 and ctc["SEG"] > 0.7


def test_segmentation_split_into_frame_chunks_gives_identical_labels(tiny_run):
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    config.update(results="results_chunked", jobs={"segment_frames_per_job": 5})
    (tiny_run / "chunked.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # same params: no demo rerun
    result = run_snakemake(tiny_run, "results_chunked/tiny/labels.tif", configfile="chunked.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "segment_chunk" in result.stderr
    chunked = tifffile.imread(tiny_run / "results_chunked" / "tiny" / "labels.tif")
    whole = tifffile.imread(tiny_run / "results" / "tiny" / "labels.tif")
    assert chunked.dtype == whole.dtype and (chunked == whole).all()
    assert not list((tiny_run / "results_chunked" / "tiny" / "chunks").glob("*.tif"))  # temp chunks removed


def test_an_edited_preset_file_reruns_segmentation(tmp_path):
    """Segmentation takes the preset's values, not its name: editing the preset file reruns it."""
    project = write_project(tmp_path / "project", [tiny_demo_row()], config_updates={
        "segmentation": {"channel": "nuclei", "classic": {"preset": None}}})  # the built-in values
    done = run_snakemake(project, "results/tiny/labels.tif")
    assert done.returncode == 0, done.stderr[-3000:]
    preset = tmp_path / "my_preset.yaml"
    preset.write_text("params: {}\n")   # the built-in values under another name
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["segmentation"]["classic"] = {"preset": str(preset)}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # Snakemake compares params in order

    def planned_rules():
        result = run_snakemake(project, "results/tiny/labels.tif", "-n", "--rerun-triggers", "params",
                               configfile=str(tmp_path / "config.yaml"))
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    assert "Nothing to be done" in planned_rules()
    preset.write_text("params: {smooth_sigma_um: 1.5}\n")
    plan = planned_rules()
    assert "rule segment:" in plan and "params have changed" in plan
