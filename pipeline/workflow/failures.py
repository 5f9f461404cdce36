"""What failed in a run: each failing step leaves a small marker next to its log, cleared on success.

The workflow's `onerror` handler lists them at the end (which sample, which step, the error, the
log), so a `--keep-going` run over many samples ends with one readable table, and marks an earlier
run's summary as stale (`STALE.txt`, removed when the summary is rewritten).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from marrowflow.io import atomic_write

MARKER_SUFFIX = ".failed.json"
STALE_NAME = "STALE.txt"  # in results/summary/ after a failed run, until the summary is rewritten


def failure_marker(log_path: str | Path) -> Path:
    """The marker file that belongs to a rule's log file."""
    return Path(str(log_path) + MARKER_SUFFIX)


def record_failure(log_path: str | Path, *, rule: str, sample: str | None, error: str) -> None:
    """Leave a marker saying that `rule` failed on `sample` with `error`."""
    marker = failure_marker(log_path)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"rule": rule, "sample": sample, "error": error, "log": str(log_path)}))


def clear_failure(log_path: str | Path) -> None:
    """Remove the marker of an earlier failure of this step, if any."""
    failure_marker(log_path).unlink(missing_ok=True)


def collect_failures(log_root: str | Path = "logs", samples: Iterable[str] | None = None) -> pd.DataFrame:
    """All failure markers under `log_root` (only of `samples` when given), sorted by sample and rule."""
    records = [json.loads(p.read_text()) for p in sorted(Path(log_root).rglob(f"*{MARKER_SUFFIX}"))]
    table = pd.DataFrame(records, columns=["sample", "rule", "error", "log"])
    if samples is not None:
        table = table[table["sample"].isin(list(samples)) | table["sample"].isna()]
    return table.sort_values(["sample", "rule"], na_position="last").reset_index(drop=True)


def format_failures(failures: pd.DataFrame) -> str:
    """A short report for the terminal; empty string when nothing failed."""
    if failures.empty:
        return ""
    lines = [f"marrowflow: {len(failures)} step(s) failed:"]
    for row in failures.itertuples(index=False):
        first_line = str(row.error).strip().splitlines()[0] if str(row.error).strip() else "(no message)"
        lines.append(f"  - sample {row.sample or '-'}, step {row.rule}: {first_line}\n    log: {row.log}")
    return "\n".join(lines)


def mark_summary_stale(summary_dir: str | Path, failures: pd.DataFrame, *, when: datetime | None = None) -> Path | None:
    """Write `summary_dir/STALE.txt` (atomically) naming the failed samples and steps and the time,
    when `summary_dir` holds an earlier summary (`counts.csv`); return its path, or None."""
    summary_dir = Path(summary_dir)
    if not (summary_dir / "counts.csv").is_file():
        return None
    when = (when or datetime.now(UTC)).astimezone(UTC)
    lines = [f"The summary in this folder is STALE: the run of {when:%Y-%m-%d %H:%M:%S} UTC failed, so these files "
             "are from an earlier run and do not reflect the current inputs and config.",
             "Fix what failed and rerun; the summary rule removes this file when it rewrites the summary.", ""]
    if failures.empty:
        lines.append("failed: (no step recorded a failure marker; see Snakemake's log of the run)")
    for row in failures.itertuples(index=False):
        first_line = str(row.error).strip().splitlines()[0] if str(row.error).strip() else "(no message)"
        lines.append(f"failed: sample {row.sample or '-'}, step {row.rule}: {first_line} (log: {row.log})")
    path = summary_dir / STALE_NAME
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def clear_summary_stale(summary_dir: str | Path) -> None:
    """Remove `summary_dir/STALE.txt`: the summary there has just been rewritten."""
    (Path(summary_dir) / STALE_NAME).unlink(missing_ok=True)
