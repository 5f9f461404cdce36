"""The workflow passes Snakemake's linter and is formatted with snakefmt."""

import subprocess
import sys

import pytest

from workflow_helpers import REPO_ROOT


def test_snakemake_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-n"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]


@pytest.mark.parametrize("path", ["Snakefile", "workflow/rules"])
def test_snakefmt_leaves_the_workflow_unchanged(path):
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", path], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
