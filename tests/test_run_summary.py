"""Failure markers and the end-of-run summary of failed samples."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from marrowflow.errors import InputError
from marrowflow.workflow.failures import (
    STALE_NAME,
    clear_failure,
    clear_summary_stale,
    collect_failures,
    failure_marker,
    format_failures,
    mark_summary_stale,
    record_failure,
)
from marrowflow.workflow.step import run_step


def test_markers_are_collected_filtered_and_formatted(tmp_path):
    record_failure(tmp_path / "segment" / "b.log", rule="segment", sample="b", error="bad tiff\nmore")
    record_failure(tmp_path / "ingest" / "a.log", rule="ingest", sample="a", error="no such file")
    record_failure(tmp_path / "ingest" / "gone.log", rule="ingest", sample="gone", error="old")
    failures = collect_failures(tmp_path, samples=["a", "b"])
    assert failures[["sample", "rule"]].values.tolist() == [["a", "ingest"], ["b", "segment"]]
    text = format_failures(failures)
    assert "2 step(s) failed" in text
    assert "sample b, step segment: bad tiff" in text and "more" not in text
    assert str(tmp_path / "segment" / "b.log") in text


def test_clear_failure_removes_the_marker(tmp_path):
    log = tmp_path / "x.log"
    record_failure(log, rule="r", sample="s", error="e")
    clear_failure(log)
    assert not failure_marker(log).exists()
    assert format_failures(collect_failures(tmp_path)) == ""


def _smk(tmp_path):
    return SimpleNamespace(log=[str(tmp_path / "step.log")], rule="measure", wildcards=SimpleNamespace(sample="s1"))


def test_run_step_records_a_failure_and_exits_1(tmp_path, capsys):
    def fail(smk):
        raise InputError("movie.tif: not a TIFF")

    with pytest.raises(SystemExit) as exit_info:
        run_step(_smk(tmp_path), fail)
    assert exit_info.value.code == 1
    assert "rule measure, sample s1 failed" in capsys.readouterr().err
    assert "movie.tif: not a TIFF" in (tmp_path / "step.log").read_text()
    assert collect_failures(tmp_path)["error"].tolist() == ["movie.tif: not a TIFF"]


def test_run_step_success_clears_an_earlier_failure(tmp_path):
    smk = _smk(tmp_path)
    record_failure(smk.log[0], rule="measure", sample="s1", error="old")
    run_step(smk, lambda s: None)
    assert collect_failures(tmp_path).empty


def test_a_failed_run_marks_an_existing_summary_stale(tmp_path):
    summary = tmp_path / "results" / "summary"
    record_failure(tmp_path / "logs" / "track" / "b.log", rule="track", sample="b", error="no pixel size\nmore")
    failures = collect_failures(tmp_path / "logs")
    assert mark_summary_stale(summary, failures) is None  # no summary yet: nothing to mark
    assert not summary.exists()
    summary.mkdir(parents=True)
    (summary / "counts.csv").write_text("sample,n\n")
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    text = mark_summary_stale(summary, failures, when=when).read_text()
    assert "STALE" in text and "2026-03-04 05:06:07 UTC" in text
    assert "sample b, step track: no pixel size" in text and "more" not in text
    assert sorted(p.name for p in summary.iterdir()) == [STALE_NAME, "counts.csv"]
    clear_summary_stale(summary)
    clear_summary_stale(summary)  # twice: no error
    assert not (summary / STALE_NAME).exists()
