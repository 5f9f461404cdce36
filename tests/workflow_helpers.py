"""Running the real Snakemake workflow on small inputs in a temporary project folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_DEMO = {"seed": 3, "n_frames": 12, "size": [160, 160], "n_founders": 8}


def write_project(folder: Path, rows: list[dict], *, config_updates: dict | None = None) -> Path:
    """A project folder with the shipped config.yaml (updated) and a sample sheet of `rows`."""
    with open(REPO_ROOT / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    config["demo"] = {"tiny": dict(TINY_DEMO)}
    config.update(config_updates or {})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    columns = ["sample", "path", "condition", "ground_truth", "channels"]
    lines = ["\t".join(columns)] + ["\t".join(str(r.get(c, "")) for c in columns) for r in rows]
    (folder / "samples.tsv").write_text("\n".join(lines) + "\n")
    return folder


def tiny_demo_row(name: str = "tiny", condition: str = "control") -> dict:
    return {"sample": name, "path": "resources/demo/tiny/movie.ome.tif", "condition": condition,
            "ground_truth": "resources/demo/tiny/GT"}


def run_snakemake(folder: Path, *args: str, configfile: str | None = "config.yaml", env: dict | None = None,
                  timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile with `folder` as working directory and `folder/configfile`
    (None: no --configfile, so the Snakefile's own `configfile:` reads folder/config.yaml).
    `env` adds environment variables."""
    config = ["--configfile", str(folder / configfile)] if configfile is not None else []
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO_ROOT / "Snakefile"), "--directory", str(folder),
           *config, "--cores", "2", *args]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environment)
