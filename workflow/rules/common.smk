# Configuration, sample sheet and helpers shared by every rule. Validation happens here, before
# any job starts: a wrong key or value stops the run with a message naming it.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from marrowflow.errors import ConfigError
from marrowflow.io.labels import labels_file_name
from marrowflow.parallel import sample_threads
from marrowflow.segment.presets import expand_preset
from marrowflow.workflow.config import validate_config
from marrowflow.workflow.preflight import check_samples
from marrowflow.workflow.samples import sample_table

try:
    _validated = validate_config(config, source="config.yaml (and --config overrides)")
    config.clear()
    config.update(_validated)
    DEMO_MOVIES = {f"resources/demo/{name}/movie.ome.tif" for name in config["demo"]}
    SAMPLES = sample_table(config, generated=DEMO_MOVIES)
    # the preset's values, not its name: an edited preset file reruns segmentation
    SEGMENTATION = expand_preset(config["segmentation"])
    # what the movies' headers already tell (pixel size, channels), before any job
    check_samples(config, SAMPLES, generated=DEMO_MOVIES)
except ConfigError as _exc:
    sys.exit(f"marrowflow: {_exc}")

try:
    _CORES = workflow.cores
except WorkflowError:  # no --cores: cluster execution, each job asks for its own cores
    _CORES = None
# threads of each sample's segment, measure and evaluate jobs (jobs.threads_per_sample)
SAMPLE_THREADS = sample_threads(
    config["jobs"]["threads_per_sample"], _CORES, len(SAMPLES)
)

RESULTS = config["results"]
REVIEWS = config["reviews"]
# the label stack under results/<sample>/ by `output.format`: labels.tif or labels.ome.zarr (a folder)
LABELS = labels_file_name(config["output"]["format"])


def labels_output(path):
    """A rule's label stack output: an OME-Zarr is a folder, so directory() for it."""
    return directory(path) if path.endswith(".zarr") else path


wildcard_constraints:
    sample="|".join(map(re.escape, SAMPLES.index)) if len(SAMPLES) else "(?!x)x",


def sample_path(wildcards):
    """The raw movie (file or per-frame folder) of a sample."""
    return SAMPLES.loc[wildcards.sample, "path"]


def sample_channels(wildcards):
    """Channel names of a sample: the sheet's `channels` column or the config's channels."""
    return SAMPLES.loc[wildcards.sample, "channels"].split(",")


def review_file(name):
    """Input function: reviews/<sample>/<name> when a review exists, else nothing."""

    def existing(wildcards):
        path = Path(REVIEWS) / wildcards.sample / name
        return [str(path)] if path.exists() else []

    return existing


SAMPLE_OUTPUTS = [
    "metadata.json",
    LABELS,
    "segmentation.json",
    "cells_typed.parquet",
    "thresholds.csv",
    "tracks.parquet",
    "lineages.parquet",
    "counts.csv",
    "lineage_counts.csv",
    "fate_map.csv",
    "production_rates.csv",
    "cell_events.parquet",
    "fate_by_generation.csv",
    "sister_pairs.csv",
    "clone_output.csv",
    "death_exit_rates.csv",
    "commitment_times.csv",
    "report/fate_by_generation.png",
    "report/sister_pairs.png",
    "count_intervals.csv",
    "tracks.geff",
    "cells.h5ad",
    "report/counts.png",
    "report/lineage_tree.png",
    "report/marker_thresholds.png",
]
# the stage drift and its figure (rule drift)
if config["tracking"]["drift_correction"]:
    SAMPLE_OUTPUTS += ["drift.csv", "report/drift.png"]


def sample_outputs(sample):
    """Every result file of one sample (evaluation.json only where it has ground truth or
    reviewed label frames)."""
    outputs = [f"{RESULTS}/{sample}/{name}" for name in SAMPLE_OUTPUTS]
    if (
        SAMPLES.loc[sample, "ground_truth"]
        or (Path(REVIEWS) / sample / "reviewed_frames.txt").is_file()
    ):
        outputs.append(f"{RESULTS}/{sample}/evaluation.json")
    if (Path(REVIEWS) / sample / "audit.csv").is_file():
        outputs += [
            f"{RESULTS}/{sample}/{n}"
            for n in ("audited_counts.csv", "audit_errors.csv")
        ]
    return outputs


def all_outputs():
    targets = [f"{RESULTS}/{s}/provenance.json" for s in SAMPLES.index]
    targets += [
        f"{RESULTS}/summary/counts.csv",
        f"{RESULTS}/summary/counts_by_condition.png",
        f"{RESULTS}/summary/production_rates.png",
        f"{RESULTS}/summary/condition_estimates.csv",
        f"{RESULTS}/summary/condition_tests.csv",
        f"{RESULTS}/summary/condition_estimates.png",
    ]
    targets.append(f"{RESULTS}/summary/provenance.json")
    return targets


def segment_chunks(wildcards):
    """Chunk stacks to gather when `jobs.segment_frames_per_job` splits segmentation, else none."""
    per_job = config["jobs"]["segment_frames_per_job"]
    if not per_job:
        return []
    from marrowflow.io import frame_chunks, read_json

    metadata = checkpoints.ingest.get(sample=wildcards.sample).output[0]
    n_frames = read_json(metadata)["n_frames"]
    return [
        f"{RESULTS}/{wildcards.sample}/chunks/labels_{start}-{stop}.tif"
        for start, stop in frame_chunks(n_frames, per_job)
    ]


def segmentation_model(wildcards):
    """The cellpose weights file when the config names one (so a missing one is trained first)."""
    settings = config["segmentation"]
    model = settings.get("cellpose", {}).get("model", "")
    if settings["backend"] == "cellpose" and (
        len(Path(model).parts) > 1 or model.endswith(".pth")
    ):
        return [model]
    return []


def reviewed_samples(name):
    """Samples whose review folder holds `name`."""
    return [s for s in SAMPLES.index if (Path(REVIEWS) / s / name).is_file()]
