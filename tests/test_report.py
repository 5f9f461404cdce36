"""`snakemake --report` on a finished small demo run (one synthetic sample): one self-contained
HTML file with the workflow description, every caption (workflow/report/*.rst, rendered with the
sample name) and every figure embedded."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL_DEMO = """\
samples: one_sample.tsv
demo:
  control_1: {seed: 1, n_frames: 6, size: 128, n_founders: 6}
"""
SAMPLES = ("control_1",)
PNG_BASE64 = "iVBORw0KGgo"  # the PNG signature, base64-encoded


def snakemake(workdir: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("report-demo")
    for name in ("Snakefile", "config.yaml", "samples.tsv"):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / "workflow", work / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (work / "small.yaml").write_text(SMALL_DEMO)
    sheet = (REPO / "samples.tsv").read_text().splitlines()
    (work / "one_sample.tsv").write_text("\n".join([sheet[0], *[r for r in sheet if r.startswith(
        "control_1\t")]]) + "\n")
    config = ["--configfile", "config.yaml", "small.yaml"]
    snakemake(work, "--cores", "2", *config)
    snakemake(work, "--report", "report.html", *config)
    return (work / "report.html").read_text(encoding="utf-8")


def caption_sentence(name: str) -> str:
    """The caption's first line up to its first markup, as it appears in the rendered HTML."""
    text = (REPO / "workflow" / "report" / name).read_text()
    return re.match(r"[\w ,.:-]+", text).group(0).strip()


def test_report_has_the_workflow_description(report_html):
    assert "turns time-lapse microscopy of bone-marrow organoids" in report_html
    # rendered from the config, not left as a template
    assert "{{" not in report_html.split("<script", 1)[0]
    assert "snakemake.config" not in report_html


@pytest.mark.parametrize("caption", ["counts.rst", "lineage_tree.rst", "marker_thresholds.rst",
                                     "evaluation.rst"])
def test_per_sample_captions_name_each_sample(report_html, caption):
    first = caption_sentence(caption)
    assert first in report_html, f"{caption} is not in the report"
    for sample in SAMPLES:
        assert f"{first} <strong>{sample}</strong>" in report_html, (caption, sample)


def test_summary_captions_and_figures_are_embedded(report_html):
    assert caption_sentence("summary_plot.rst") in report_html
    assert caption_sentence("production_rates.rst") in report_html
    # 3 figures per sample + 2 summary plots, as inline PNG data (self-contained)
    assert report_html.count(PNG_BASE64) >= 3 * len(SAMPLES) + 2
    assert not re.search(r'(src|href)="https?://', report_html), "report must not load from the web"
