"""The per-sample steps start without loading scikit-learn or scipy.stats (each takes 0.5-0.7 s to
import, and a run starts about a dozen step processes per sample): only the steps that fit or read
a model, and the across-sample summary, load them."""

import ast
import subprocess
import sys

import pytest

# steps that Snakemake starts once per sample (or per chunk of a sample)
PER_SAMPLE = ["ingest", "segment", "measure", "drift", "classify", "track", "lineage", "evaluate", "export",
              "plots", "uncertainty", "provenance"]
HEAVY = ["sklearn", "scipy.stats", "optuna", "torch", "cellpose", "napari", "skops"]


def _imports(script) -> str:
    """The script's top-level import statements, as code."""
    tree = ast.parse(script.read_text())
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


@pytest.mark.parametrize("step", PER_SAMPLE)
def test_step_imports_no_heavy_library(repo_root, step):
    code = _imports(repo_root / "workflow" / "scripts" / f"{step}.py")
    check = f"import sys\nloaded = [m for m in {HEAVY!r} if m in sys.modules]\nprint(','.join(loaded))"
    out = subprocess.run([sys.executable, "-c", f"{code}\n{check}"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"workflow/scripts/{step}.py loads {out.stdout.strip()} at import"


def test_the_models_still_load_it_where_used():
    code = ("import sys\nfrom marrowflow.classify.model import train_classifier\n"
            "from marrowflow.stats import bootstrap_mean\n"
            "assert 'sklearn' not in sys.modules and 'scipy.stats' not in sys.modules\n"
            "bootstrap_mean([1.0, 2.0, 3.0])\nassert 'scipy.stats' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
