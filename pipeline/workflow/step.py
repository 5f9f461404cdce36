"""Run one workflow step: log to the rule's log file, turn known errors into a clear message.

Used by the thin scripts in workflow/scripts/; takes the Snakemake `snakemake` object duck-typed so
that the library has no Snakemake import.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from marrowflow.errors import MarrowflowError
from marrowflow.workflow.failures import clear_failure, record_failure

log = logging.getLogger("marrowflow")


def setup_logging(log_path: str | None) -> None:
    """Send marrowflow's log records to `log_path` (if given) and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)


def run_step(smk: Any, func: Callable[[Any], None]) -> None:
    """Call `func(smk)` with logging set up; exit 1 with the message on a MarrowflowError."""
    log_path = smk.log[0] if len(smk.log) else None
    setup_logging(log_path)
    sample = getattr(smk.wildcards, "sample", None) if hasattr(smk, "wildcards") else None
    what = f"rule {smk.rule}" + (f", sample {sample}" if sample else "")
    start = time.perf_counter()
    log.info("%s: started", what)
    try:
        func(smk)
    except MarrowflowError as exc:
        log.error("%s failed: %s", what, exc)
        sys.stderr.write(f"\nmarrowflow: {what} failed:\n{exc}\n(log: {log_path})\n")
        if log_path:
            record_failure(log_path, rule=smk.rule, sample=sample, error=str(exc))
        sys.exit(1)
    except Exception as exc:
        log.exception("%s failed with an unexpected error (please report it)", what)
        if log_path:
            record_failure(log_path, rule=smk.rule, sample=sample, error=f"{type(exc).__name__}: {exc}")
        raise
    if log_path:
        clear_failure(log_path)
    log.info("%s: done in %.1f s", what, time.perf_counter() - start)
