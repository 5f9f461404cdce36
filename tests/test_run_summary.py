"""Failure markers and the end-of-run summary of failed samples."""

from types import SimpleNamespace

import pytest

from marrowflow.errors import InputError
from marrowflow.workflow.failures import (
    clear_failure,
    collect_failures,
    failure_marker,
    format_failures,
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
