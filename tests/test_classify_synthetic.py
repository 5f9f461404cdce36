"""Cell types on the synthetic organoid, measured on its ground-truth masks with the demo config's
auto thresholds; the track vote on tracks taken from the ground-truth labels."""

import numpy as np
import pandas as pd
import pytest
import yaml

from marrowflow.classify.cell_types import ClassificationParams, classify_cells
from marrowflow.classify.track_vote import vote_along_tracks
from marrowflow.measure.cells import measure_frame
from marrowflow.synthetic import OrganoidParams, simulate_organoid


@pytest.fixture(scope="module")
def organoid(repo_root):
    sim = simulate_organoid(OrganoidParams(n_frames=24, differentiation_rate_per_h={
        "erythroid": 0.06, "myeloid": 0.04, "megakaryocyte": 0.03}), seed=1)
    cells = pd.concat([measure_frame(sim.labels[t], sim.movie[t], channel_names=sim.channel_names, frame=t,
                                     time_h=t * sim.time_step_h, pixel_size_um=sim.pixel_size_um)
                       for t in range(sim.movie.shape[0])], ignore_index=True).assign(sample="demo")
    truth = cells.merge(sim.cell_types, on=["frame", "label"], how="left")["cell_type"].to_numpy()
    with open(repo_root / "config.yaml", encoding="utf-8") as fh:
        cfg = ClassificationParams.from_config(yaml.safe_load(fh)["classification"])
    parent = dict(zip(sim.tracks["label"], sim.tracks["parent"]))
    return sim, cells, truth, cfg, parent


def _tracks(typed, parent):
    return typed.assign(track_id=typed["label"],
                        parent_track_id=typed["label"].map(parent).fillna(0).astype(int))


def test_per_frame_accuracy_and_vote(organoid):
    sim, cells, truth, cfg, parent = organoid
    assert len(set(truth)) == 4
    typed, th = classify_cells(cells, cfg, channel_names=sim.channel_names)
    per_frame = (typed["cell_type"].to_numpy() == truth).mean()
    assert per_frame >= 0.95
    assert set(th["feature"]) == {"CD34", "CD235a", "MPO", "CD41"}
    voted = vote_along_tracks(_tracks(typed, parent), cfg.track_vote)
    assert (voted["cell_type"].to_numpy() == truth).mean() >= per_frame


def test_vote_repairs_injected_flips(organoid):
    """10% of the per-frame calls replaced by another type with a weak score: the vote undoes most."""
    sim, cells, truth, cfg, parent = organoid
    typed, _ = classify_cells(cells, cfg, channel_names=sim.channel_names)
    rng = np.random.default_rng(0)
    flip = rng.random(len(typed)) < 0.10
    others = {t: [u for u in ("progenitor", "erythroid", "myeloid", "megakaryocyte") if u != t]
              for t in set(typed["cell_type"])}
    noisy = typed.copy()
    noisy.loc[flip, "cell_type"] = [others[t][rng.integers(3)] for t in typed.loc[flip, "cell_type"]]
    noisy.loc[flip, "type_score"] = 0.2
    before = (noisy["cell_type"].to_numpy() == truth).mean()
    after = (vote_along_tracks(_tracks(noisy, parent), cfg.track_vote)["cell_type"].to_numpy() == truth).mean()
    assert before < 0.91 and after > 0.97
