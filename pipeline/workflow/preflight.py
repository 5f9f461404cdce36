"""Checks at planning time: what each sample's movie metadata already tells, before any job runs.

The workflow calls `check_samples` on every Snakemake call, so it reads headers only (the movie
readers are lazy), never pixel data. The checks are the steps' own: a movie the reader refuses
(unreadable, wrong channel count), a sample's own `labels` whose frames or frame size differ from
the movie's, the channel to segment, classic segmentation in µm without a pixel size, and the
tracking parameters (`TrackingParams.from_config`), which need a pixel size
unless `tracking.max_distance_px` is set.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marrowflow.errors import ConfigError, MarrowflowError
from marrowflow.workflow.config import segmentation_channel


@dataclass(frozen=True)
class Problem:
    """One thing that would make a sample fail: which sample and file, what, and how to fix it."""

    sample: str
    file: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"sample {self.sample} ({self.file}): {self.what}\n    fix: {self.fix}"


def _split_fix(message: str) -> tuple[str, str]:
    """A library message "what ...; give X, or set Y" (or "... Fix: ...") as (what, fix)."""
    for marker in (" Fix: ", "; give ", "; set ", "; use "):
        head, sep, tail = message.partition(marker)
        if sep:
            return head.strip(), (tail if marker == " Fix: " else marker[2:] + tail).strip()
    return message.strip(), "see the message; correct the file or the config and rerun"


def sample_problems(config: Mapping[str, Any], sample: str, row: Mapping[str, Any], *,
                    base_dir: str | Path = ".") -> list[Problem]:
    """What the metadata of one sample's movie shows would fail, before any job (headers only)."""
    from marrowflow.io import open_movie
    from marrowflow.io.given_labels import check_given_labels
    from marrowflow.segment.classic import spacing_for
    from marrowflow.segment.presets import expand_preset
    from marrowflow.track.linking import TrackingParams

    file = str(row["path"])
    image = config["image"]
    problems: list[Problem] = []

    def add(message: str) -> None:
        what, fix = _split_fix(message)
        problems.append(Problem(sample, file, what, fix))

    try:
        with open_movie(Path(base_dir) / file, axes=image["axes"], channel_names=str(row["channels"]).split(","),
                        pixel_size_um=image["pixel_size_um"], time_step_h=image["time_step_h"],
                        z_step_um=image["z_step_um"]) as movie:
            meta = movie.metadata
    except MarrowflowError as exc:
        add(str(exc))
        return problems
    labels = str(row.get("labels", "") or "")
    if labels:
        try:
            check_given_labels(Path(base_dir) / labels, meta.n_frames, meta.shape_zyx)
        except MarrowflowError as exc:
            what, fix = _split_fix(str(exc))
            problems.append(Problem(sample, labels, what, fix))
    else:  # segmentation settings matter only to samples that are segmented
        try:
            segmentation_channel(config, meta.channel_names)
        except ConfigError as exc:
            add(str(exc))
    segmentation = expand_preset(config["segmentation"])
    units = segmentation.get("classic", {}).get("units", "auto")
    if not labels and segmentation["backend"] == "classic" and units != "auto":
        try:
            spacing_for(meta.ndim_spatial, meta.pixel_size_um, units)
        except ConfigError as exc:
            add(str(exc))
    try:
        TrackingParams.from_config(config["tracking"], pixel_size_um=meta.pixel_size_um,
                                   time_step_h=meta.time_step_h, z_step_um=meta.z_step_um)
    except ConfigError as exc:
        add(str(exc))
    return problems


def preflight_problems(config: Mapping[str, Any], samples: pd.DataFrame, *, generated: Collection[str] = (),
                       base_dir: str | Path = ".") -> list[Problem]:
    """Every sample's problems (`sample_problems`), skipping movies the workflow makes (`generated`)."""
    problems: list[Problem] = []
    for sample, row in samples.iterrows():
        if row["path"] not in generated:
            problems += sample_problems(config, str(sample), row, base_dir=base_dir)
    return problems


def format_problems(problems: list[Problem]) -> str:
    """One message listing every problem, for a ConfigError or a warning."""
    n_samples = len({p.sample for p in problems})
    return (f"{len(problems)} problem(s) in {n_samples} sample(s), found in the movies' metadata before any "
            "job ran:\n  " + "\n  ".join(map(str, problems)))


def check_samples(config: Mapping[str, Any], samples: pd.DataFrame, *, generated: Collection[str] = (),
                  base_dir: str | Path = ".") -> None:
    """Raise one ConfigError listing every sample's problems (see `preflight_problems`), if any."""
    problems = preflight_problems(config, samples, generated=generated, base_dir=base_dir)
    if problems:
        raise ConfigError(format_problems(problems))
