"""classify_cells on hand-made cells tables with known types."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.classify.cell_types import ClassificationParams, classify_cells, resolve_features
from marrowflow.errors import ConfigError
from marrowflow.review.apply import apply_type_review
from marrowflow.review.files import Review, ReviewWarning

MARKERS = {"progenitor": "CD34", "erythroid": "CD235a", "myeloid": "MPO", "megakaryocyte": "CD41"}
CHANNELS = ["nuclei", *MARKERS.values()]
SIMPLE = {"classes": [{"name": "erythroid", "when": {"CD235a": "pos"}},
                      {"name": "megakaryocyte", "when": {"CD41": "pos"}},
                      {"name": "myeloid", "when": {"MPO": "pos"}},
                      {"name": "progenitor", "when": {"CD34": "pos"}}]}


def make_cells(n=400, seed=0, samples=("s1",), brightness=(1.0,), n_frames=4):
    """Cells whose true type lights exactly one marker ~8x above the others; returns (cells, truth)."""
    rng = np.random.default_rng(seed)
    tables, truths = [], []
    for sample, gain in zip(samples, brightness):
        truth = rng.choice(list(MARKERS), n)
        d = {"sample": sample, "frame": np.arange(n) % n_frames, "label": np.arange(1, n + 1),
             "time_h": 0.0, "y": rng.uniform(0, 100, n), "x": rng.uniform(0, 100, n),
             "area_px": 100, "area_um2": rng.uniform(30, 90, n), "eccentricity": rng.uniform(0, 0.8, n),
             "solidity": rng.uniform(0.9, 1, n), "mean_nuclei": rng.normal(900, 50, n)}
        for cls, m in MARKERS.items():
            d[f"mean_{m}"] = gain * np.where(truth == cls, rng.lognormal(np.log(800), 0.25, n),
                                             rng.lognormal(np.log(100), 0.25, n))
        tables.append(pd.DataFrame(d))
        truths.append(truth)
    return pd.concat(tables, ignore_index=True), np.concatenate(truths)


@pytest.mark.parametrize("order", ["ordered", "hierarchy"])
@pytest.mark.parametrize("method", ["otsu", "gmm"])
def test_auto_thresholds_recover_types(order, method):
    cells, truth = make_cells(samples=("s1", "s2"), brightness=(1.0, 4.0))
    before = cells.copy()
    typed, th = classify_cells(cells, {**SIMPLE, "order": order, "threshold_method": method},
                               channel_names=CHANNELS)
    pd.testing.assert_frame_equal(cells, before)  # input untouched
    assert (typed["cell_type"].to_numpy() == truth).mean() > 0.99
    assert typed["type_score"].between(0, 1).all()
    assert set(typed["type_source"]) == {"rule"}
    # thresholds recorded per sample and marker; the 4x brighter sample gets a ~4x higher cutoff
    assert set(th["sample"]) == {"s1", "s2"} and set(th["feature"]) == set(MARKERS.values())
    t = th.set_index(["sample", "feature"])["threshold"]
    assert 2.5 < t[("s2", "CD34")] / t[("s1", "CD34")] < 6
    assert (th["method"] == method).all()


def test_ordered_first_class_wins_and_unknown():
    cells, _ = make_cells(n=40)
    cells.loc[0, ["mean_CD34", "mean_CD235a", "mean_MPO", "mean_CD41"]] = [900, 900, 90, 90]
    cells.loc[1, ["mean_CD34", "mean_CD235a", "mean_MPO", "mean_CD41"]] = [90, 90, 90, 90]
    cfg = {**SIMPLE, "thresholds": {m: 300.0 for m in MARKERS.values()}}
    typed, th = classify_cells(cells, cfg, channel_names=CHANNELS)
    assert typed.loc[0, "cell_type"] == "erythroid"  # listed before progenitor
    assert typed.loc[1, "cell_type"] == "unknown"
    assert (th["method"] == "manual").all() and (th["threshold"] == 300.0).all()
    # listing progenitor first flips the double-positive cell
    cfg["classes"] = cfg["classes"][::-1]
    assert classify_cells(cells, cfg, channel_names=CHANNELS)[0].loc[0, "cell_type"] == "progenitor"


def test_numeric_comparisons_ranges_ratios_and_hierarchy():
    cells = pd.DataFrame({"frame": 0, "label": [1, 2, 3, 4, 5],
                          "mean_CD34": [0.8, 0.8, 0.8, 0.1, 0.2], "mean_CD41": [0.1, 0.1, 0.9, 0.1, 0.9],
                          "area_um2": [50, 500, 50, 50, 120]})
    cfg = {"order": "ordered", "classes": [
        {"name": "progenitor", "when": {"CD34": "> 0.3", "area_um2": [20, 200]}},
        {"name": "megakaryocyte", "when": {"CD41/CD34": "> 2"}},
        {"name": "big_mk", "parent": "megakaryocyte", "when": {"area_um2": [100, None]}}]}
    typed, _ = classify_cells(cells, cfg, channel_names=["CD34", "CD41"])
    # cell 2 is too large for a progenitor; cell 4 is a megakaryocyte refined by size
    assert list(typed["cell_type"]) == ["progenitor", "unknown", "progenitor", "unknown", "big_mk"]
    assert resolve_features(cells, ["CD41/CD34"])["CD41/CD34"].iloc[4] == pytest.approx(4.5)


def test_missing_marker_warns_and_its_class_is_never_claimed():
    cells, truth = make_cells()
    cells = cells.drop(columns=["mean_MPO"])
    with pytest.warns(UserWarning, match="MPO"):
        typed, th = classify_cells(cells, SIMPLE, channel_names=["nuclei", "CD34", "CD235a", "CD41"])
    assert "myeloid" not in set(typed["cell_type"])
    assert "MPO" not in set(th["feature"])
    ok = truth != "myeloid"
    assert (typed["cell_type"].to_numpy()[ok] == truth[ok]).mean() > 0.99


def test_frame_normalization_compensates_bleaching():
    cells, truth = make_cells(n=1200, n_frames=12)
    fade = 0.8 ** cells["frame"].to_numpy()
    for m in MARKERS.values():
        cells[f"mean_{m}"] *= fade
    plain, _ = classify_cells(cells, SIMPLE, channel_names=CHANNELS)
    norm, th = classify_cells(cells, {**SIMPLE, "frame_normalization": "median"}, channel_names=CHANNELS)
    assert (th["method"] == "otsu+frame-median").all()
    acc_plain = (plain["cell_type"].to_numpy() == truth).mean()
    acc_norm = (norm["cell_type"].to_numpy() == truth).mean()
    assert acc_norm > 0.98 and acc_norm > acc_plain + 0.1


def test_reviewed_types_win():
    cells, _ = make_cells(n=20)
    reviewed = pd.DataFrame({"frame": [cells.frame[3], 99], "label": [cells.label[3], 1],
                             "cell_type": ["megakaryocyte", "myeloid"]})
    typed, _ = classify_cells(cells, SIMPLE, channel_names=CHANNELS)
    with pytest.warns(ReviewWarning, match="row\\(s\\) 2"):  # frame 99 has no cell: left out
        typed = apply_type_review(typed, Review(cell_types=reviewed))
    assert typed.loc[3, ["cell_type", "type_source", "type_score"]].tolist() == ["megakaryocyte", "review", 1.0]
    assert (typed.drop(index=3)["type_source"] == "rule").all()
    with pytest.warns(ReviewWarning):
        again = apply_type_review(typed, Review(cell_types=reviewed))
    pd.testing.assert_frame_equal(again, typed)


def test_params_object_and_mapping_give_the_same_types():
    cells, _ = make_cells(n=60)
    from_mapping, th_mapping = classify_cells(cells, {**SIMPLE, "order": "hierarchy"}, channel_names=CHANNELS)
    params = ClassificationParams.from_config({**SIMPLE, "order": "hierarchy"})
    from_params, th_params = classify_cells(cells, params, channel_names=CHANNELS)
    pd.testing.assert_frame_equal(from_mapping, from_params)
    pd.testing.assert_frame_equal(th_mapping, th_params)
    with pytest.raises(ConfigError, match="classification: unknown key"):
        ClassificationParams.from_config({"clases": []})
    with pytest.raises(ConfigError, match="classification.frame_normalization"):
        ClassificationParams(frame_normalization="mean")


def test_empty_table():
    cells, _ = make_cells(n=10)
    for order in ("ordered", "hierarchy"):
        typed, th = classify_cells(cells.iloc[:0], {**SIMPLE, "order": order}, channel_names=CHANNELS)
        assert typed.empty and {"cell_type", "type_score", "type_source"} <= set(typed.columns)
        assert th.empty and list(th.columns) == ["sample", "feature", "threshold", "method", "n_cells"]


def test_no_classes_gives_unknown():
    cells, _ = make_cells(n=10)
    typed, th = classify_cells(cells, {"classes": []}, channel_names=CHANNELS)
    assert set(typed["cell_type"]) == {"unknown"} and th.empty


def test_schema_accepts_the_documented_forms_and_fills_defaults(repo_root):
    from marrowflow.workflow.config import load_config, validate_config

    cfg = load_config(repo_root / "config.yaml")
    section = cfg["classification"]
    assert section["track_vote"]["min_switch_frames"] == 3 and section["min_separation"] == 3.0
    raw = {"samples": "samples.tsv", "channels": [{"name": "CD34"}, {"name": "CD41"}],
           "classification": {"order": "hierarchy", "classes": [
               {"name": "big", "when": {"CD34": "> 0.3", "area_um2": [20, None], "CD34/CD41": "pos"}},
               {"name": "small", "parent": "big", "when": {"eccentricity": [None, 0.5]}}]}}
    filled = validate_config(raw)["classification"]
    assert filled["threshold_method"] == "otsu" and filled["track_vote"]["transitions"]["progenitor"]
    raw["classification"]["classes"][0]["when"] = {"CD34": 0.3}
    with pytest.raises(ConfigError):
        validate_config(raw)


def test_review_classes_are_the_configured_classes_and_unknown(tmp_path):
    from marrowflow.classify.cell_types import review_classes

    assert review_classes(SIMPLE) == [c["name"] for c in SIMPLE["classes"]] + ["unknown"]
    assert review_classes(None) == ["unknown"]
