"""Hostile files through the real workflow (issue 23, "Done when"; item 12's stale summary).

One project: a good sample runs alone first; then bad files join it in one `--keep-going` run.
Each bad sample fails with a message naming its file, the good sample's outputs are byte-identical
to the run without them, and the earlier summary is marked STALE until a successful run rewrites it.
"""

import shutil

import numpy as np
import pytest
import tifffile

from marrowflow.workflow.failures import collect_failures

from workflow_helpers import run_snakemake, tiny_demo_row, write_project

pytestmark = pytest.mark.slow

DEMO_MOVIE = "resources/demo/tiny/movie.ome.tif"
DEMO_GT = "resources/demo/tiny/GT"


def _nan_movie(path):
    metadata = {"axes": "TCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
    tifffile.imwrite(path, np.full((4, 5, 48, 48), np.nan, np.float32), ome=True, metadata=metadata)


def _bad_gt(folder):
    shutil.copytree(folder.parent / DEMO_GT, folder)
    (folder / "TRA" / "man_track.txt").write_text("1 0 eleven 0\nnot a track line\n")


# sample -> (how to make its bad file in the project, the sheet row, text its error must hold)
TABLE = {
    "nanmovie": (lambda p: _nan_movie(p / "data" / "nan.ome.tif"),
                 {"path": "data/nan.ome.tif"}, "nan.ome.tif"),
    "gtempty": (lambda p: (p / "gt_empty").mkdir(),
                {"path": DEMO_MOVIE, "ground_truth": "gt_empty"}, "gt_empty"),
    "gtbad": (lambda p: _bad_gt(p / "gt_bad"),
              {"path": DEMO_MOVIE, "ground_truth": "gt_bad"}, "man_track.txt"),
    "badreview": (lambda p: (p / "reviews" / "badreview").mkdir(parents=True) or (
        p / "reviews" / "badreview" / "cell_types.csv").write_text("frame,label,cell_type\n0,1,erythroyd\n"),
                  {"path": DEMO_MOVIE}, "reviews/badreview/cell_types.csv"),
}


def _outputs(folder):
    """Every file of a sample's results except provenance.json (times, command) as bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "provenance.json"}


def test_bad_files_fail_alone_and_the_summary_is_marked_stale(tmp_path):
    good = tiny_demo_row("good")
    project = write_project(tmp_path, [good])
    first = run_snakemake(project)
    assert first.returncode == 0, first.stderr[-3000:]
    baseline = _outputs(project / "results" / "good")
    summary = project / "results" / "summary"
    assert (summary / "counts.csv").is_file() and not (summary / "STALE.txt").exists()

    (project / "data").mkdir()
    for make, _, _ in TABLE.values():
        make(project)
    rows = [good] + [{"sample": name, **row} for name, (_, row, _) in TABLE.items()]
    write_project(tmp_path, rows)
    shutil.rmtree(project / "results" / "good")  # recomputed beside the bad samples
    bad = run_snakemake(project, "--keep-going")
    assert bad.returncode != 0
    assert f"{len(TABLE)} step(s) failed" in bad.stderr, bad.stderr[-4000:]
    failures = collect_failures(project / "logs")
    assert sorted(failures["sample"]) == sorted(TABLE)
    for row in failures.itertuples():
        names_file = TABLE[row.sample][2]
        assert f"- sample {row.sample}, step {row.rule}: " in bad.stderr
        assert names_file in row.error, (row.sample, row.error)
    assert _outputs(project / "results" / "good") == baseline

    stale = (summary / "STALE.txt").read_text()
    assert all(f"sample {name}," in stale for name in TABLE)
    assert "sample good," not in stale

    # fix one bad file, leave the others out: the summary is rewritten and no longer stale
    (project / "reviews" / "badreview" / "cell_types.csv").write_text("frame,label,cell_type\n0,1,erythroid\n")
    write_project(tmp_path, [good, {"sample": "badreview", **TABLE["badreview"][1]}])
    again = run_snakemake(project)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (summary / "STALE.txt").exists()
    assert "badreview" in (summary / "counts.csv").read_text()
