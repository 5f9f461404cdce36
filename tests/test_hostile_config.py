"""Configs and sample sheets that must stop the workflow before any job (or before any code in
them runs), through the real Snakefile in a temporary project."""

import pytest
import yaml

from workflow_helpers import run_snakemake, tiny_demo_row, write_project

pytestmark = pytest.mark.slow


def _yte_project(tmp_path):
    project = write_project(tmp_path / "project", [tiny_demo_row()])
    marker = tmp_path / "marker"
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["__use_yte__"] = True
    config["samples"] = f"?open({str(marker)!r}, 'w').write('ran') and 'samples.tsv'"
    (project / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return project, marker


def test_config_enabling_yte_is_refused_before_it_runs(tmp_path):
    project, marker = _yte_project(tmp_path)
    result = run_snakemake(project, "-n", configfile=None, env={"MARROWFLOW_ALLOW_YTE": ""})
    assert result.returncode != 0
    assert "config.yaml enables YTE templating" in result.stderr and "MARROWFLOW_ALLOW_YTE=1" in result.stderr
    assert not marker.exists()
    assert not (project / "results").exists()


def test_yte_runs_only_when_the_user_opts_in(tmp_path):
    project, marker = _yte_project(tmp_path)
    result = run_snakemake(project, "-n", configfile=None, env={"MARROWFLOW_ALLOW_YTE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker.read_text() == "ran"  # the template is code: this is what the refusal prevents


def test_nested_command_line_values_take_the_schema_types(tmp_path):
    project = write_project(tmp_path, [tiny_demo_row()])
    result = run_snakemake(project, "-n", "--config", "tracking={gap_closing_frames: 3, divisions: false}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "is not of type" not in result.stderr


@pytest.mark.parametrize(("rows", "updates", "expected"), [
    ([{"sample": "..", "path": "samples.tsv"}, {"sample": "summary", "path": "samples.tsv"}], {},
     ["line 2 (sample '..'): a sample name may not start with '.'",
      "line 3 (sample 'summary'): 'summary' is the name of a results folder"]),
    ([tiny_demo_row()], {"classification": {"classes": [{"name": "erythroid", "when": {"CD253a": "pos"}}]}},
     ["classification.classes[0].when (erythroid) names 'CD253a'", "CD235a"]),
    ([tiny_demo_row()], {"reviews": "results"},
     ["reviews ('results') is the results folder results ('results')"]),
], ids=["sample-names", "unknown-gate-channel", "reviews-in-results"])
def test_bad_config_stops_before_any_job(tmp_path, rows, updates, expected):
    project = write_project(tmp_path, rows, config_updates=updates)
    result = run_snakemake(project, "-n")
    assert result.returncode != 0
    for text in expected:
        assert text in result.stderr, result.stderr[-3000:]
    assert not (project / "results").exists() and not (project / "resources").exists()
