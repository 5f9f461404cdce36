"""Rule tune_segmentation: a classic-segmentation preset tuned (Optuna, k-fold SEG) on the reviewed
label frames of every sample, written as resources/presets/<name>.yaml for segmentation.classic.preset."""
import logging
from pathlib import Path

import yaml

from marrowflow.errors import InputError
from marrowflow.io import MovieMetadata, atomic_write, read_json, reopen_movie
from marrowflow.segment.auto import estimate_image
from marrowflow.segment.classic import ClassicParams, resolve_auto
from marrowflow.segment.movie import physical_pixel_size
from marrowflow.segment.train import collect_reviewed_frames, read_reviewed_frames
from marrowflow.segment.tune import preset_document, tune_classic
from marrowflow.workflow.config import segmentation_channel
from marrowflow.workflow.step import run_step


def main(smk):
    if not smk.params.samples:
        raise InputError(f"no reviewed label frames under {smk.params.reviews}/<sample>/reviewed_frames.txt; "
                         "review and save some frames in napari first")
    tuning = smk.params.tuning
    images, masks, tuned_on, sizes = [], [], {}, set()
    for sample, metadata in zip(smk.params.samples, smk.input.metadata):
        meta = MovieMetadata.from_dict(read_json(metadata))
        review = Path(smk.params.reviews) / sample
        with reopen_movie(meta) as movie:
            channel = segmentation_channel(smk.params.channel_choice, meta.channel_names)
            more_images, more_masks = collect_reviewed_frames([review], [movie], channel=channel)
        images += more_images
        masks += more_masks
        tuned_on[sample] = read_reviewed_frames(review / "reviewed_frames.txt")
        sizes.add(physical_pixel_size(meta))
    if len(sizes) > 1:
        raise InputError(f"the reviewed samples {list(tuned_on)} have different pixel sizes {sorted(map(str, sizes))}; "
                         "a preset is tuned at one pixel size: review frames of samples imaged alike, or tune "
                         "one preset per pixel size (training.tuning.name)")
    pixel_size = sizes.pop()
    log = logging.getLogger("marrowflow")
    base = ClassicParams.from_config(smk.params.classic)
    if base.is_auto:  # preset auto: the search starts from the parameters estimated on the reviewed frames
        estimate = estimate_image(images, pixel_size_um=pixel_size)
        base = resolve_auto(base, estimate)
        log.info("preset auto: the search starts from the estimates %s", estimate.to_dict())
    result = tune_classic(images, masks, base=base, pixel_size_um=pixel_size, k_folds=tuning["k_folds"],
                          n_trials=tuning["n_trials"], budget_s=tuning["budget_s"], seed=tuning["seed"],
                          progress=log.info)
    doc = preset_document(result, base, tuned_on=tuned_on, seed=tuning["seed"])
    header = (f"# Tuned by `snakemake tune_segmentation` on {len(images)} reviewed frame(s) of "
              f"{', '.join(tuned_on)}.\n# Cross-validated SEG {result.cv_seg:.3f} ({len(result.folds)} folds); "
              f"the starting parameters scored {result.start_seg:.3f}.\n"
              f"# Use it with segmentation: {{classic: {{preset: {smk.output[0]}}}}}\n")
    with atomic_write(smk.output[0]) as tmp:
        tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


run_step(snakemake, main)  # noqa: F821
