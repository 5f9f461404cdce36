"""The audit of a sample's calls: the stratified proposal, the answers, error rates and the
corrected counts (marrowflow.review.audit)."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import InputError
from marrowflow.io import write_table
from marrowflow.review.audit import (
    audit_confusion,
    audit_error_rates,
    corrected_counts,
    propose_audit,
    read_audit,
    write_audit_proposal,
)

TYPES = np.array(["progenitor", "erythroid", "myeloid", "unknown"])
# P(called | true): erythroid is often called progenitor (marker onset), unknown often myeloid
CONFUSION = np.array([[0.92, 0.04, 0.03, 0.01],
                      [0.25, 0.73, 0.01, 0.01],
                      [0.03, 0.01, 0.93, 0.03],
                      [0.05, 0.05, 0.30, 0.60]])


def _cells(seed=0, n_frames=30, per_frame=150):
    rng = np.random.default_rng(seed)
    n = n_frames * per_frame
    true = rng.choice(4, n, p=[0.45, 0.25, 0.2, 0.1])
    called = np.array([rng.choice(4, p=CONFUSION[t]) for t in true])
    frame = np.repeat(np.arange(n_frames), per_frame)
    return pd.DataFrame({"sample": "s", "frame": frame, "time_h": frame * 0.5,
                         "label": np.tile(np.arange(1, per_frame + 1), n_frames),
                         "track_id": rng.integers(1, 300, n), "y": rng.uniform(0, 100, n), "x": rng.uniform(0, 100, n),
                         "cell_type": TYPES[called], "type_score": rng.uniform(0, 1, n), "true": TYPES[true]})


def _answered(cells, n_per_type=40, seed=0):
    audit = propose_audit(cells, n_per_type, seed=seed)
    truth = cells.set_index(["frame", "label"])["true"]
    audit["true_type"] = truth.loc[list(zip(audit["frame"], audit["label"]))].to_numpy()
    return audit


def _counts(cells):
    return cells.groupby(["sample", "frame", "time_h", "cell_type"]).size().rename("n").reset_index()


def test_proposal_is_stratified_seeded_and_empty_to_fill():
    cells = _cells()
    cells.loc[cells.index[:3], "cell_type"] = "megakaryocyte"  # a rare type: all 3 are proposed
    audit = propose_audit(cells, 25, seed=1)
    assert audit["called_type"].value_counts().to_dict() == {"erythroid": 25, "myeloid": 25, "progenitor": 25,
                                                            "unknown": 25, "megakaryocyte": 3}
    assert (audit["true_type"] == "").all()
    assert list(audit.columns) == ["frame", "label", "track_id", "y", "x", "called_type", "type_score", "true_type"]
    in_3d = propose_audit(cells.assign(z=2.5), 25, seed=1)  # a 3D sample's cells: z to find them by
    assert list(in_3d.columns[3:6]) == ["z", "y", "x"] and in_3d.drop(columns="z").equals(audit)
    assert audit.equals(propose_audit(cells, 25, seed=1))
    assert not audit.equals(propose_audit(cells, 25, seed=2))
    assert audit["frame"].nunique() > 10  # from all frames, not the first ones


def test_audit_file_round_trip_and_errors(tmp_path):
    cells = _cells(n_frames=3)
    path = tmp_path / "audit.csv"
    write_audit_proposal(propose_audit(cells, 5), path)
    with pytest.raises(InputError, match="no row has a true_type"):
        read_audit(path)
    answered = _answered(cells, 5)
    write_table(answered.iloc[:7], path)
    assert len(read_audit(path)) == 7
    with pytest.raises(InputError, match="already holds audit answers"):
        write_audit_proposal(propose_audit(cells, 5), path)
    write_table(answered.drop(columns="true_type"), path)
    with pytest.raises(InputError, match=r"audit.csv: expected columns"):
        read_audit(path)


def test_error_rates_and_confusion():
    audit = pd.DataFrame({"called_type": ["a"] * 10 + ["b"] * 4, "true_type": ["a"] * 8 + ["b"] * 2 + ["b"] * 4})
    rates = audit_error_rates(audit).set_index("called_type")
    assert rates.loc["a", "error_rate"] == 0.2 and rates.loc["a", "n_wrong"] == 2
    assert rates.loc["a", "ci_low"] < 0.2 < rates.loc["a", "ci_high"]
    assert rates.loc["b", "ci_low"] == 0.0 and rates.loc["b", "ci_high"] < 0.5
    conf = audit_confusion(audit, ["a", "b", "c"])
    assert conf.loc["a", "b"] == 2 and conf.loc["c"].sum() == 0 and list(conf.columns) == ["a", "b", "c"]


def test_audit_corrected_counts_are_within_their_interval_of_the_truth():
    cells = _cells()
    out = corrected_counts(_counts(cells), _answered(cells), n_resamples=2000)
    truth = cells.groupby(["frame", "true"]).size()
    true_n = np.array([truth.get((f, t), 0) for f, t in zip(out["frame"], out["cell_type"])])
    covered = (out["ci_low"] <= true_n) & (true_n <= out["ci_high"])
    assert covered.mean() >= 0.9
    # the correction helps where the calls are biased: erythroid (called progenitor too often)
    ery = out["cell_type"] == "erythroid"
    error = np.abs(out.loc[ery, "corrected"] - true_n[ery]).mean()
    assert error < np.abs(out.loc[ery, "n_called"] - true_n[ery]).mean()
    assert out.equals(corrected_counts(_counts(cells), _answered(cells), n_resamples=2000))


def test_an_unaudited_type_keeps_its_calls():
    cells = _cells(n_frames=2)
    audit = _answered(cells)
    audit = audit[audit["called_type"] != "unknown"]
    out = corrected_counts(_counts(cells), audit, n_resamples=500)
    unknown = out[out["cell_type"] == "unknown"]
    assert (unknown["ci_low"] <= unknown["corrected"]).all() and (unknown["corrected"] <= unknown["ci_high"]).all()


@pytest.mark.napari
def test_plugin_audit_widget_writes_the_library_proposal(make_napari_viewer, tmp_path):
    from marrowflow_review._demo import make_demo_results

    results = make_demo_results(tmp_path / "project", "s1")
    viewer = make_napari_viewer()
    viewer.open(str(results), plugin="marrowflow")
    _, widget = viewer.window.add_plugin_dock_widget("marrowflow", "Audit")
    assert widget.per_type.value() == 20  # the schema's uncertainty.audit_cells_per_type
    widget.per_type.setValue(2)
    widget.button.click()
    path = tmp_path / "project" / "reviews" / "s1" / "audit.csv"
    session = widget.session()
    expected = propose_audit(session.tracks, 2, seed=0)
    written = read_audit(path, answered_only=False)
    assert written[["frame", "label", "called_type"]].equals(expected[["frame", "label", "called_type"]])
    assert str(path) in widget.status.text()
    write_table(written.assign(true_type=written["called_type"]), path)
    widget.button.click()  # answers are never overwritten
    assert "already holds audit answers" in widget.status.text()
