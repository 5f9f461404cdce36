"""Where the benchmarks read the public microscopy (not a benchmark itself).

The data sets live in `../shared/data` next to the repository; `--data DIR` on a script's command
line or the environment variable MARROWFLOW_DATA point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_ENV = "MARROWFLOW_DATA"


def default_data_dir() -> Path:
    """$MARROWFLOW_DATA when set, else `../shared/data` relative to the repository."""
    return Path(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "data")


DATA_HELP = f"folder of the public data sets (default: ${DATA_ENV} or ../shared/data next to the repository)"
