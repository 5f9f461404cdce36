"""`ruff check` is clean over all Python code (the rules are in pyproject.toml, [tool.ruff])."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINTED = ["pipeline", "plugins", "workflow/scripts", "tests", "benchmarks"]


def test_ruff_check_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *LINTED], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ruff check {' '.join(LINTED)} (fix with `ruff check --fix`):\n" + (
        done.stdout + done.stderr)[-8000:]
