"""An empty movie (no cell in any frame): every step gives empty tables with the right columns
and dtypes, figures that say "no cells", and a NoCellsWarning; the workflow completes."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from matplotlib.figure import Figure

from marrowflow.classify.cell_types import classify_cells
from marrowflow.classify.plots import plot_marker_thresholds
from marrowflow.io import NoCellsWarning
from marrowflow.lineage.tables import count_types, count_types_per_lineage, fate_map, lineage_table, production_rates
from marrowflow.measure.cells import measure_columns, measure_movie
from marrowflow.report import (
    combine_counts,
    plot_counts_by_condition,
    plot_counts_over_time,
    plot_lineage_trees,
    plot_production_rates,
)
from marrowflow.track.linking import track_cells
from tests.workflow_helpers import run_snakemake, write_project

CHANNELS = ["nuclei", "CD34", "CD235a"]
CLASSES = {"classes": [{"name": "erythroid", "when": {"CD235a": "pos"}},
                       {"name": "progenitor", "when": {"CD34": "pos"}}]}
NAMES = ["erythroid", "progenitor"]


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.fixture
def empty_tracks():
    """The tracks table of a 3-frame all-zero movie, made by measure, classify and track."""
    frames = [np.zeros((len(CHANNELS), 32, 32), np.uint16)] * 3
    labels = [np.zeros((32, 32), np.uint32)] * 3
    with pytest.warns(NoCellsWarning, match="measure: no cell"):
        cells = measure_movie(frames, labels, channel_names=CHANNELS, time_step_h=0.5, pixel_size_um=0.5)
    assert len(cells) == 0 and dict(cells.dtypes.astype(str)) == measure_columns(CHANNELS)
    cells.insert(0, "sample", pd.Series(dtype=object))
    with pytest.warns(NoCellsWarning, match="classify: no cell"):
        typed, thresholds = classify_cells(cells, CLASSES, channel_names=CHANNELS)
    assert len(typed) == 0 and len(thresholds) == 0 and typed["cell_type"].dtype == object
    with pytest.warns(NoCellsWarning, match="track: no cell"):
        tracks = track_cells(typed, {}, pixel_size_um=0.5, time_step_h=0.5)
    assert tracks["track_id"].dtype == np.int64 and tracks["parent_track_id"].dtype == np.int64
    return tracks


def test_lineage_tables_of_an_empty_movie_are_empty_and_typed(empty_tracks):
    lineages = lineage_table(empty_tracks, NAMES)
    assert len(lineages) == 0 and {"lineage_id", "n_final", "final_erythroid", "final_unknown"} <= set(lineages)
    assert lineages["n_final"].dtype == np.int64 and lineages["mean_cycle_h"].dtype == float
    counts = count_types(empty_tracks, NAMES)
    assert list(counts.columns) == ["sample", "frame", "time_h", "cell_type", "n"] and len(counts) == 0
    per_lineage = count_types_per_lineage(empty_tracks, NAMES)
    assert len(per_lineage) == 0
    assert per_lineage[["lineage_id", "frame", "n"]].dtypes.tolist() == [np.int64] * 3
    fates = fate_map(empty_tracks, NAMES)
    assert len(fates) == 0 and fates["n_erythroid"].dtype == np.int64
    rates = production_rates(empty_tracks, NAMES)
    assert rates["cell_type"].tolist() == [*NAMES, "unknown"] and (rates["new_cells"] == 0).all()
    assert len(production_rates(empty_tracks, NAMES, per_lineage=True)) == 0


def test_figures_of_an_empty_movie_say_no_cells(empty_tracks):
    counts = count_types(empty_tracks, NAMES)
    rates = production_rates(empty_tracks, NAMES).assign(condition="c")
    figures = [plot_counts_over_time(counts, NAMES), plot_lineage_trees(empty_tracks, NAMES),
               plot_marker_thresholds(empty_tracks, pd.DataFrame(columns=["sample", "feature", "threshold", "method"])),
               plot_production_rates(rates, NAMES)]
    for fig in figures:
        assert any("no cells" in t for t in _texts(fig))
        fig.savefig(io.BytesIO(), format="png")


def test_summary_of_an_empty_sample_warns_and_plots(empty_tracks):
    with pytest.warns(NoCellsWarning, match="summary"):
        combined = combine_counts([count_types(empty_tracks, NAMES)], {})
    assert len(combined) == 0
    assert "no cells" in _texts(plot_counts_by_condition(combined))


@pytest.mark.slow
def test_workflow_on_an_all_zero_movie_completes_with_empty_counts(tmp_path):
    movie = np.zeros((3, 5, 64, 64), np.uint16)
    tifffile.imwrite(tmp_path / "empty.ome.tif", movie,
                     metadata={"axes": "TCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "TimeIncrement": 0.5,
                               "TimeIncrementUnit": "h"})
    (tmp_path / "gt" / "TRA").mkdir(parents=True)
    (tmp_path / "gt" / "TRA" / "man_track.txt").write_text("")
    for t in range(3):
        tifffile.imwrite(tmp_path / "gt" / "TRA" / f"man_track{t:03d}.tif", np.zeros((64, 64), np.uint16))
    write_project(tmp_path, [{"sample": "empty", "path": "empty.ome.tif", "condition": "control",
                              "ground_truth": "gt"}])
    proc = run_snakemake(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = pd.read_csv(tmp_path / "results" / "empty" / "counts.csv")
    assert list(counts.columns) == ["sample", "frame", "time_h", "cell_type", "n"] and len(counts) == 0
    for step in ("segment", "measure", "classify", "track", "lineage", "plots", "evaluate"):
        assert "NoCellsWarning" in (tmp_path / "logs" / step / "empty.log").read_text(), step
    assert (tmp_path / "results" / "empty" / "report" / "counts.png").stat().st_size > 0
    assert json.loads((tmp_path / "results" / "empty" / "evaluation.json").read_text())["ctc"]["Valid"] == 1
