"""Per-cell events (marrowflow.lineage.events) against hand-made tracks and synthetic truth.

The seeds here (31-33) are not the ones looked at while the end-cause rule was designed (11-13).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import ConfigError, InputError
from marrowflow.lineage.events import EventParams, cell_events, lineage_markers
from marrowflow.schema import section_defaults, section_schema
from marrowflow.synthetic import LINEAGE_MARKER, LINEAGES, OrganoidParams, simulate_organoid

CLASSES = [{"name": "erythroid", "when": {"CD235a": "pos"}}, {"name": "megakaryocyte", "when": {"CD41": "pos"}},
           {"name": "myeloid", "when": {"MPO": "pos"}}, {"name": "progenitor", "when": {"CD34": "pos"}}]
TRUTH_CAUSE = {"divided": "divided", "died": "died", "left_field": "left_field", "end_of_movie": "end_of_movie",
               "covered": "lost"}


def organoid(seed: int) -> OrganoidParams:
    """Deaths and exits on, fast commitment: many onsets, deaths and exits in 24 frames."""
    return OrganoidParams(seed=seed, n_frames=24, size=(160, 160), n_founders=14, cells_leave_field=True,
                          motility_px=2.0, differentiation_rate_per_h={k: 0.08 for k in LINEAGES},
                          death_rate_per_h={k: 0.05 for k in ("progenitor", *LINEAGES)})


def _classified(sim, labels):
    from marrowflow.classify.cell_types import classify_cells
    from marrowflow.measure.cells import measure_movie

    cells = measure_movie(iter(sim.movie), iter(labels), channel_names=sim.channel_names,
                          time_step_h=sim.time_step_h, pixel_size_um=sim.pixel_size_um)
    config = {**section_defaults("classification"), "classes": CLASSES}
    return classify_cells(cells, config, channel_names=sim.channel_names)


def _events(sim, tracks, thresholds):
    return cell_events(tracks, thresholds, field_shape=sim.params.size, n_frames=sim.params.n_frames,
                       nuclear_channel="nuclei", markers=dict(LINEAGE_MARKER))


@pytest.fixture(scope="module")
def on_truth():
    """Two organoids' events from the true masks and tracks (intensities measured from the movie)."""
    out = []
    for seed in (31, 32):
        sim = simulate_organoid(organoid(seed))
        typed, thresholds = _classified(sim, sim.labels)
        ctc = sim.tracks.rename(columns={"label": "track_id", "parent": "parent_track_id"})
        tracks = typed.merge(ctc[["track_id", "parent_track_id"]], left_on="label", right_on="track_id")
        events = _events(sim, tracks, thresholds).set_index("track_id")
        out.append((sim, events.join(sim.cell_truth.set_index("label"), rsuffix="_true")))
    return out


def test_death_and_exit_from_true_tracks(on_truth):
    """>= 95 % of the track ends get their true cause (truth's divided mothers with one visible
    daughter are 'continued' tracks, their ends not a division of the tracks table)."""
    right = total = dying = leaving = 0
    for sim, ev in on_truth:
        kids = sim.tracks[sim.tracks["parent"] > 0].groupby("parent").size()
        truth = ev["end_cause_true"].map(TRUTH_CAUSE)
        one_kid = (truth == "divided") & (kids.reindex(ev.index, fill_value=0) < 2)
        truth = truth.mask(one_kid, "continued")
        right += int((truth == ev["end_cause"]).sum())
        total += len(ev)
        dying += int((truth == "died").sum())
        leaving += int((truth == "left_field").sum())
    assert dying >= 10 and leaving >= 4
    assert right / total >= 0.95, f"{right} of {total} ends"


def test_onsets_within_one_frame_of_the_truth(on_truth):
    """The marker-onset estimate against the true start of the marker's rise, for every cell
    whose rise starts during its track (>= onset_min_frames before its end); no onset where the
    cell never expresses the marker."""
    diffs, false_onsets, never = [], 0, 0
    for _, ev in on_truth:
        for marker in LINEAGE_MARKER.values():
            true = ev[f"onset_{marker}_frame_true"]
            inside = true.notna() & (true >= ev["begin"]) & (true + 2 <= ev["end"])
            diffs += list(ev.loc[inside, f"onset_{marker}_subframe"] - true[inside])
            false_onsets += int(ev.loc[true.isna(), f"onset_{marker}_frame"].notna().sum())
            never += int(true.isna().sum())
    diffs = np.asarray(diffs)
    assert len(diffs) >= 15
    assert np.mean(np.abs(diffs) <= 1.0) >= 0.90, np.round(diffs, 2)
    assert false_onsets <= 0.02 * never


def _after_single_daughter(tracks: pd.DataFrame) -> set[int]:
    """Labels below a mother of whom one daughter only is ever visible (the other hidden by her
    neighbours from birth): in the tracks table that is a gap, not a division."""
    parent = tracks.set_index("label")["parent"]
    kids = parent[parent > 0].value_counts()
    out: set[int] = set()
    for lab in parent.sort_index().index:  # mothers have lower labels than their daughters
        par = parent[lab]
        if par and (kids.get(par, 0) < 2 or par in out):
            out.add(lab)
    return out


def test_generations_and_sisters_exact_on_true_tracks(on_truth):
    for sim, ev in on_truth:
        ev = ev.drop(index=list(_after_single_daughter(sim.tracks)))
        assert len(ev) >= 30
        assert (ev["generation"] == ev["generation_true"]).all()
        born = ev["birth_cause"] == "division"
        assert (ev.loc[born, "sister_track_id"] == ev.loc[born, "sister"]).all()
        assert (ev.loc[born, "mother_track_id"] == ev.loc[born, "parent"]).all()
        assert (ev.loc[~born, "mother_track_id"] == 0).all()


def test_death_and_exit_through_segmentation_and_tracking():
    """The real pipeline (classic segmentation, tracking, measured intensities): every correctly
    tracked cell that truly died or left gets that cause."""
    from marrowflow.segment.segmenter import segment_frame
    from marrowflow.track.linking import track_cells

    sim = simulate_organoid(organoid(33))
    seg = {"backend": "classic", "classic": {"preset": None}}
    labels = np.stack([segment_frame(f[0], seg, pixel_size_um=sim.pixel_size_um) for f in sim.movie])
    typed, thresholds = _classified(sim, labels)
    tracks = track_cells(typed, {}, pixel_size_um=sim.pixel_size_um, time_step_h=sim.time_step_h)
    ev = _events(sim, tracks, thresholds).set_index("track_id")
    last = tracks.sort_values("frame").groupby("track_id").last()
    ev["true_label"] = [int(sim.labels[int(r.frame), int(round(r.y)), int(round(r.x))]) for r in last.itertuples()]
    truth = sim.cell_truth.set_index("label")
    ev = ev[ev["true_label"] > 0]
    ev["true_end"] = truth["end"].reindex(ev["true_label"]).to_numpy()
    ev["true_cause"] = truth["end_cause"].reindex(ev["true_label"]).to_numpy()
    correct = ev[(ev["true_end"] == ev["end"]) & ev["true_cause"].isin(["died", "left_field"])]
    assert len(correct) >= 4
    hit = (correct["end_cause"] == correct["true_cause"]).mean()
    assert hit >= 0.95, correct[["true_cause", "end_cause", "area_trend_z", "intensity_trend_z"]]


def _track(tid, parent, frames, y, x, area=80.0, nuclei=800.0, marker=None):
    n = len(frames)
    return pd.DataFrame({"frame": frames, "time_h": np.asarray(frames) * 0.5, "track_id": tid,
                         "parent_track_id": parent, "y": y, "x": x, "area_px": np.full(n, area, float)
                         if np.isscalar(area) else area, "mean_nuclei": nuclei if not np.isscalar(nuclei)
                         else np.full(n, nuclei, float),
                         "mean_M": np.full(n, 10.0) if marker is None else marker, "cell_type": "p"})


def _hand_made():
    rng = np.random.default_rng(0)
    f = np.arange(10)
    noisy = [_track(100 + i, 0, f, 50 + i * 12 + rng.normal(0, 0.3, 10), 60 + rng.normal(0, 0.3, 10),
                    area=80 * np.exp(rng.normal(0, 0.03, 10)), nuclei=800 * np.exp(rng.normal(0, 0.03, 10)))
             for i in range(8)]   # the sample's ordinary noise
    rows = [
        _track(1, 0, np.arange(0, 4), 50, 50, marker=np.array([10, 10, 30, 40.0])),  # founder, onset at 2
        _track(2, 1, np.arange(4, 10), 45, 50, marker=np.full(6, 50.0)),   # daughter born positive
        _track(3, 1, np.arange(4, 7), 55, 50, marker=np.full(3, 50.0),
               area=np.array([80.0, 40, 20]), nuclei=np.array([800.0, 1400, 1700])),   # dies
        _track(4, 0, np.arange(3, 6), 2, 80),   # appears at the border, leaves there
        _track(5, 0, np.arange(3, 6), 70, 80),  # appears inside, lost inside
        _track(6, 0, np.arange(0, 3), 30, 30),  # continued after a gap as track 7
        _track(7, 6, np.arange(5, 10), 30, 31),
    ]
    return pd.concat(rows + noisy, ignore_index=True)


def test_hand_made_births_ends_onsets():
    ev = cell_events(_hand_made(), pd.DataFrame({"sample": ["all"], "feature": ["M"], "threshold": [20.0],
                                                 "method": ["otsu"]}),
                     field_shape=(120, 120), n_frames=10, nuclear_channel="nuclei", markers={"lin": "M"},
                     params={"onset_min_frames": 2, "death_window_frames": 2}).set_index("track_id")
    assert ev.loc[[1, 2, 3, 4, 5, 6, 7], "birth_cause"].tolist() == [
        "founder", "division", "division", "entered_field", "appeared", "founder", "continued"]
    assert ev.loc[[1, 2, 3, 4, 5, 6, 7], "end_cause"].tolist() == [
        "divided", "end_of_movie", "died", "left_field", "lost", "continued", "end_of_movie"]
    assert ev.at[1, "onset_M_frame"] == 2 and ev.at[1, "onset_M_subframe"] == pytest.approx(1.5)
    assert ev.at[1, "onset_M_h"] == pytest.approx(0.75) and ev.at[1, "onset_M_from_birth_h"] == pytest.approx(0.75)
    assert bool(ev.at[2, "M_at_birth"]) and np.isnan(ev.at[2, "onset_M_frame"])
    assert ev.at[2, "sister_track_id"] == 3 and ev.at[3, "sister_track_id"] == 2
    assert ev.at[2, "generation"] == 1 and ev.at[7, "generation"] == 0
    assert ev.at[7, "cell_id"] == 6 and ev.at[7, "mother_track_id"] == 0
    assert ev.loc[100:, "end_cause"].eq("end_of_movie").all()


def test_a_track_born_positive_after_a_negative_mother_has_its_onset_at_birth():
    rows = pd.concat([_track(1, 0, np.arange(0, 3), 50, 50, marker=np.array([10, 10, 12.0])),
                      _track(2, 1, np.arange(3, 6), 40, 50, marker=np.array([32, 40, 40.0])),
                      _track(3, 1, np.arange(3, 6), 60, 50)], ignore_index=True)
    thr = pd.DataFrame({"feature": ["M"], "threshold": [22.0], "method": ["otsu"]})
    ev = cell_events(rows, thr, field_shape=(100, 100), n_frames=6, nuclear_channel="nuclei",
                     markers={"lin": "M"}).set_index("track_id")
    assert ev.at[2, "onset_M_frame"] == 3 and ev.at[2, "onset_M_subframe"] == pytest.approx(2.5)
    assert not ev.at[2, "M_at_birth"] and np.isnan(ev.at[3, "onset_M_frame"])


def test_a_frame_normalised_threshold_is_applied_to_frame_normalised_values():
    """Every cell doubles its marker at frame 2 (a frame-wide change): only track 1 rises beyond it."""
    f = np.arange(4)
    rows = pd.concat([_track(1, 0, f, 20, 20, marker=np.array([10, 10, 20, 40.0])),
                      _track(2, 0, f, 20, 50, marker=np.array([10, 10, 20, 20.0])),
                      _track(3, 0, f, 50, 50, marker=np.array([10, 10, 20, 20.0]))], ignore_index=True)
    thr = pd.DataFrame({"feature": ["M"], "threshold": [15.0], "method": ["otsu+frame-median"]})
    ev = cell_events(rows, thr, field_shape=(100, 100), n_frames=4, nuclear_channel="nuclei",
                     markers={"lin": "M"}, params={"onset_min_frames": 1}).set_index("track_id")
    assert ev.at[1, "onset_M_frame"] == 3 and ev.loc[[2, 3], "onset_M_frame"].isna().all()
    raw = cell_events(rows, thr.assign(method="otsu"), field_shape=(100, 100), n_frames=4, nuclear_channel="nuclei",
                      markers={"lin": "M"}, params={"onset_min_frames": 1})
    assert (raw["onset_M_frame"] == 2).all()


def test_empty_missing_columns_and_bad_params():
    empty = cell_events(_hand_made().iloc[:0], pd.DataFrame(columns=["feature", "threshold", "method"]),
                        field_shape=(10, 10), n_frames=0, nuclear_channel="nuclei", markers={"lin": "M"})
    assert len(empty) == 0 and {"end_cause", "onset_M_subframe", "M_at_birth"} <= set(empty.columns)
    with pytest.raises(InputError, match="mean_nuclei"):
        cell_events(_hand_made().drop(columns="mean_nuclei"), pd.DataFrame(), field_shape=(10, 10), n_frames=1,
                    nuclear_channel="nuclei", markers={})
    with pytest.raises(ConfigError, match="onset_min_frames"):
        EventParams.from_config({"onset_min_frames": 0})
    with pytest.raises(ConfigError, match="unknown"):
        EventParams.from_config({"death_zz": 1})


def test_params_take_the_schema_defaults_and_markers_follow_the_classes():
    props = section_schema("lineage")["properties"]
    p = EventParams()
    assert {k: getattr(p, k) for k in props} == {k: v["default"] for k, v in props.items()}
    transitions = section_defaults("classification.track_vote")["transitions"]
    assert lineage_markers(CLASSES, transitions, ["nuclei", "CD34", "CD235a", "MPO", "CD41"]) == {
        "erythroid": "CD235a", "megakaryocyte": "CD41", "myeloid": "MPO"}


@pytest.mark.slow
def test_workflow_writes_events_measures_and_figures(tiny_demo_project):
    sample = tiny_demo_project / "results" / "tiny"
    events = pd.read_parquet(sample / "cell_events.parquet")
    tracks = pd.read_parquet(sample / "tracks.parquet")
    assert sorted(events["track_id"]) == sorted(tracks["track_id"].unique())
    assert {f"onset_{m}_subframe" for m in LINEAGE_MARKER.values()} <= set(events.columns)
    assert set(events["end_cause"]) <= {"divided", "continued", "end_of_movie", "died", "left_field", "lost"}
    for name in ("fate_by_generation.csv", "sister_pairs.csv", "clone_output.csv", "death_exit_rates.csv",
                 "commitment_times.csv"):
        assert list(pd.read_csv(sample / name).columns), name
    for name in ("lineage_tree.png", "fate_by_generation.png", "sister_pairs.png"):
        assert (sample / "report" / name).stat().st_size > 0, name
    truth = pd.read_csv(tiny_demo_project / "resources" / "demo" / "tiny" / "GT" / "cell_truth.csv")
    assert {"sister", "generation", "end_cause", "type_switch_frame"} <= set(truth.columns)
