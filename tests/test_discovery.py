"""Sample discovery: one row per movie, safe unique names, per-frame folders as one movie; the
sample sheet's duplicate names."""

import numpy as np
import pytest
import tifffile

from marrowflow.errors import ConfigError, InputError
from marrowflow.workflow.discovery import discover_samples, sample_name, sanitise_name, unique_names
from marrowflow.workflow.samples import read_sample_sheet


def _touch_tiff(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8))


def test_files_names_and_natural_order(tmp_path):
    for rel in ("ctrl/org 10.ome.tif", "ctrl/org 2.ome.tif", "epo/org_2.tiff", "epo/Zelle-ä.tif",
                "notes.txt", ".hidden/x.tif"):
        _touch_tiff(tmp_path / rel) if rel.endswith(("tif", "tiff")) else (tmp_path / rel).write_text("x")
    df = discover_samples(tmp_path)
    assert list(df.columns) == ["sample", "path"]
    assert list(df["sample"]) == ["org_2", "org_10", "org_2_2", "Zelle-a"]
    assert df["path"].iloc[0] == str(tmp_path / "ctrl" / "org 2.ome.tif")


def test_pattern_naming_folders_gives_one_movie_per_folder(tmp_path):
    for seq in ("A", "B"):
        for t in range(3):
            _touch_tiff(tmp_path / seq / "01" / f"t{t:03d}.tif")
    df = discover_samples(tmp_path, pattern="*/01")
    assert list(df["sample"]) == ["A_01", "B_01"]
    assert list(df["path"]) == [str(tmp_path / "A" / "01"), str(tmp_path / "B" / "01")]


def test_real_ctc_folders(shared_data):
    df = discover_samples(shared_data, pattern="ctc-*/01")
    assert "ctc-Fluo-N2DH-GOWT1_01" in set(df["sample"])
    assert "ctc-Fluo-N2DH-SIM_01" in set(df["sample"])  # '+' sanitised away
    assert df["sample"].is_unique


def test_nothing_found_and_missing_folder(tmp_path):
    with pytest.raises(InputError, match="expected movies matching"):
        discover_samples(tmp_path)
    with pytest.raises(InputError, match="expected a folder of movies, found nothing"):
        discover_samples(tmp_path / "missing")


def test_name_helpers(tmp_path):
    assert sanitise_name("  Épo day 3 (rep#1)  ") == "Epo_day_3_rep_1"
    assert sanitise_name("***") == "sample"
    assert sample_name("a/b/movie.OME.TIFF") == "movie"
    assert sample_name("scan.nd2") == "scan"
    assert unique_names(["a", "a", "a_2", "b", "a"]) == ["a", "a_3", "a_2", "b", "a_4"]
    assert unique_names(["x", "y"]) == ["x", "y"]


def test_per_frame_files_found_one_by_one_warn(tmp_path):
    for t in range(3):
        _touch_tiff(tmp_path / "seq" / f"t{t:03d}.tif")
    with pytest.warns(UserWarning, match="'seq'.*one sample"):
        df = discover_samples(tmp_path)
    assert list(df["sample"]) == ["t000", "t001", "t002"]


def test_duplicate_sheet_names_name_their_lines(tmp_path):
    (tmp_path / "m.tif").touch()
    (tmp_path / "s.tsv").write_text("sample\tpath\na\tm.tif\nb\tm.tif\na\tm.tif\nb\tm.tif\n")
    config = {"channels": [{"name": "nuclei"}]}
    with pytest.raises(ConfigError, match=r"'a' on lines 2, 4; 'b' on lines 3, 5.*add _2, _3"):
        read_sample_sheet(tmp_path / "s.tsv", config, base_dir=tmp_path)


def test_discovered_movie_named_like_a_results_folder_is_renamed(tmp_path):
    for name in ["summary.tif", "Summary.ome.tif", "_..tif"]:
        _touch_tiff(tmp_path / name)
    df = discover_samples(tmp_path)
    assert sorted(df["sample"]) == ["Summary_2", "sample", "summary_2"]
    assert unique_names(["summary", "summary", "summary_2"]) == ["summary_3", "summary_4", "summary_2"]
