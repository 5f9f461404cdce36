"""Retraining a cellpose model from reviewed (human-corrected) frames.

Review folder format (written by `marrowflow.review`, e.g. from the review plugin; agreed by file
format only):

    reviews/<sample>/labels.tif           uint32 label stack T,Y,X (or T,Z,Y,X), one frame per
                                          movie frame; only the reviewed frames are used
    reviews/<sample>/reviewed_frames.txt  the 0-based indices of the reviewed frames, one per
                                          line (blank lines and lines starting with # ignored)

`collect_reviewed_frames` pairs each reviewed frame's labels with the movie frame's
segmentation channel; `train_cellpose` trains (or fine-tunes) a cellpose 3 network on them with
`cellpose.train.train_seg` on CPU (forward pass in bfloat16 autocast, loss in fp32) or GPU, seeded,
with the settings of a `SegmentationTrainingParams` (the config's `training.segmentation`), and
writes `<out_dir>/weights.pth` plus `<out_dir>/training.json` (settings, seed, data checksums,
versions, losses). Use `out_dir = resources/models/<name>` and point
`segmentation.cellpose.model` at the weights file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import tifffile

from marrowflow.errors import ConfigError, InputError
from marrowflow.schema import as_params, config_section, schema_fields

log = logging.getLogger(__name__)

__all__ = ["SegmentationTrainingParams", "read_reviewed_frames", "collect_reviewed_frames", "low_contrast_copies",
           "train_cellpose", "WEIGHTS_NAME"]

WEIGHTS_NAME = "weights.pth"

_schema = schema_fields("training.segmentation")


@dataclass(frozen=True)
class SegmentationTrainingParams:
    """Settings of `train_cellpose`: the config's `training.segmentation` keys (defaults from the
    schema) and the optimiser's, which only the library sets (cellpose's usual values).

    `base_weights`: None trains from scratch (`diam_mean` = object diameter in px the network
    works at); a weights path or built-in name fine-tunes it. `contrast_copies` adds that many
    low-contrast copies of each training image (`low_contrast_copies`). `name` names the model
    folder the workflow writes (resources/models/<name>/).
    """

    SECTION: ClassVar[str] = "training.segmentation"

    name: str = _schema("name")
    base_weights: str | None = _schema("base_weights")
    epochs: int = _schema("epochs")
    seed: int = _schema("seed")
    contrast_copies: int = _schema("contrast_copies")
    learning_rate: float = 0.005
    weight_decay: float = 1e-5
    batch_size: int = 8
    bsize: int = 128
    diam_mean: float = 30.0
    min_train_masks: int = 1
    rescale: bool = True
    nimg_per_epoch: int | None = None

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> SegmentationTrainingParams:
        """From the `training.segmentation` section; unknown keys raise ConfigError."""
        return config_section(cls, section)


def read_reviewed_frames(path: str | Path) -> list[int]:
    """Frame indices listed in a reviewed_frames.txt (sorted, unique)."""
    frames = set()
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            t = int(line)
        except ValueError:
            raise InputError(f"{path}, line {n}: expected one frame index (an integer >= 0) per "
                             f"line, found {line!r}; fix or remove that line") from None
        if t < 0:
            raise InputError(f"{path}, line {n}: frame index {t} is negative; frames are 0-based")
        frames.add(t)
    return sorted(frames)


def _open_movie(movie):
    """A Movie from a path (via marrowflow.io) or an object that already has read_frame(t)."""
    if hasattr(movie, "read_frame"):
        return contextlib.nullcontext(movie)
    from marrowflow.io import open_movie

    return open_movie(movie)


def collect_reviewed_frames(review_dirs: Sequence[str | Path], movies: Sequence, *,
                            channel: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(images, masks) of every reviewed frame, review folder i paired with movie i.

    `movies` are movie paths (opened with `marrowflow.io.open_movie`) or Movie-like objects with
    `read_frame(t) -> (C, [Z], Y, X)`; `channel` is the index of the segmentation channel.
    Images are float32 (Y, X) or (Z, Y, X); masks are uint32 of the same shape.
    """
    if len(review_dirs) != len(movies):
        raise ConfigError(f"collect_reviewed_frames: {len(review_dirs)} review folders but "
                          f"{len(movies)} movies; give one movie per review folder")
    images, masks = [], []
    for folder, movie in zip(review_dirs, movies):
        folder = Path(folder)
        labels_path, frames_path = folder / "labels.tif", folder / "reviewed_frames.txt"
        for p in (labels_path, frames_path):
            if not p.is_file():
                raise InputError(f"{p} is missing: a review folder needs labels.tif (T,Y,X uint32) "
                                 "and reviewed_frames.txt (frame indices, one per line); save the "
                                 "review again or remove the folder from the list")
        frames = read_reviewed_frames(frames_path)
        stack = tifffile.memmap(labels_path) if _is_memmappable(labels_path) else tifffile.imread(labels_path)
        if stack.ndim not in (3, 4):
            raise InputError(f"{labels_path}: expected a T,Y,X or T,Z,Y,X label stack, found shape {stack.shape}")
        bad = [t for t in frames if t >= stack.shape[0]]
        if bad:
            raise InputError(f"{frames_path}: frames {bad} are beyond the {stack.shape[0]} frames of "
                             f"{labels_path}; fix the list or save the labels again")
        with _open_movie(movie) as mov:
            for t in frames:
                frame = np.asarray(mov.read_frame(t))
                if not 0 <= channel < frame.shape[0]:
                    raise ConfigError(f"channel index {channel} is out of range for the movie's "
                                      f"{frame.shape[0]} channels")
                image = frame[channel].astype(np.float32)
                mask = np.asarray(stack[t]).astype(np.uint32)
                if image.shape != mask.shape:
                    raise InputError(f"{labels_path}: frame {t} has shape {mask.shape} but the movie "
                                     f"frame has shape {image.shape}; the review belongs to another movie")
                images.append(image)
                masks.append(mask)
    return images, masks


def _is_memmappable(path: Path) -> bool:
    with tifffile.TiffFile(path) as tif:
        return tif.series[0].dataoffset is not None


def _checksum(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _as_2d(images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> tuple[list, list]:
    """Split 3D stacks into their Z planes (cellpose trains a 2D network)."""
    out_i, out_m = [], []
    for img, msk in zip(images, masks):
        img, msk = np.asarray(img), np.asarray(msk)
        if img.shape != msk.shape or img.ndim not in (2, 3):
            raise InputError(f"training image of shape {img.shape} does not match its mask {msk.shape} "
                             "(both must be (Y, X) or (Z, Y, X))")
        pairs = zip(img, msk) if img.ndim == 3 else [(img, msk)]
        for i2, m2 in pairs:
            out_i.append(i2.astype(np.float32))
            out_m.append(m2.astype(np.int32))
    return out_i, out_m


def low_contrast_copies(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], copies: int, *,
                        seed: int = 0, scale: tuple[float, float] = (0.25, 0.6)) -> tuple[list, list]:
    """The images and masks followed by `copies` low-contrast versions of each image (same mask).

    In a copy, the signal above the background median is multiplied by s ~ U(`scale`) and
    Gaussian noise is added so the background noise (MAD of the mask == 0 pixels) keeps its
    level: dim cells, which a few reviewed frames rarely show, become common in training.
    """
    if copies < 0:
        raise ConfigError(f"contrast_copies is {copies}; use 0 (no copies) or a positive number")
    rng = np.random.default_rng(seed)
    images = [np.asarray(i, dtype=np.float32) for i in images]
    masks = [np.asarray(m) for m in masks]
    dim_images, dim_masks = [], []
    for image, mask in zip(images, masks):
        background = image[mask == 0] if (mask == 0).any() else image.ravel()
        median = float(np.median(background))
        sigma = 1.4826 * float(np.median(np.abs(background - median)))
        for _ in range(copies):
            s = rng.uniform(*scale)
            dim = median + s * (image - median) + rng.normal(0.0, sigma * np.sqrt(1 - s * s), image.shape)
            dim_images.append(np.clip(dim, 0, None).astype(np.float32))
            dim_masks.append(mask)
    return images + dim_images, masks + dim_masks


def _native_bf16() -> bool:
    """True when the CPU has bfloat16 instructions (avx512_bf16 or AMX), so autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@contextlib.contextmanager
def _bf16_forward(net, enabled: bool):
    """Run the network's forward pass under CPU bfloat16 autocast, returning fp32 tensors."""
    if not enabled:
        yield
        return
    import torch

    forward = net.forward

    def fwd(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = forward(x)
        return tuple(o.float() if isinstance(o, torch.Tensor) else o for o in out)

    net.forward = fwd
    try:
        yield
    finally:
        del net.forward


def train_cellpose(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                   params: SegmentationTrainingParams | Mapping[str, Any] | None = None, *, out_dir: str | Path,
                   test_images: Sequence[np.ndarray] | None = None,
                   test_masks: Sequence[np.ndarray] | None = None, gpu: bool | str = "auto",
                   bf16: bool | str = "auto", **changes: Any) -> Path:
    """Train a cellpose 3 network and return the path of its weights (`<out_dir>/weights.pth`).

    `params` (default: the defaults of `SegmentationTrainingParams`) with the keyword `changes`
    applied (e.g. `epochs=2`). On CPU the forward pass can run under bfloat16 autocast with the
    loss in fp32 (`bf16`: True, False, or "auto" = only when the CPU has native bf16
    instructions; emulated bf16 was ~15x slower than fp32 on an AMD EPYC without avx512_bf16).
    Seeded (numpy and torch). Writes `<out_dir>/training.json` with the settings, seed, data
    checksums (of the given images), versions and losses.
    """
    import cellpose
    import torch
    from cellpose import models, train

    from marrowflow.segment.cellpose import _model_source, resolve_device

    if len(images) != len(masks) or not images:
        raise InputError(f"train_cellpose needs matching, non-empty image and mask lists; got "
                         f"{len(images)} images and {len(masks)} masks")
    p = dataclasses.replace(as_params(SegmentationTrainingParams, params), **changes)
    given_i, given_m = _as_2d(images, masks)
    train_i, train_m = low_contrast_copies(given_i, given_m, p.contrast_copies, seed=p.seed)
    test_i, test_m = _as_2d(test_images, test_masks) if test_images is not None else (None, None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.random.seed(p.seed)
    torch.manual_seed(p.seed)
    device = resolve_device(gpu)
    use_bf16 = device.type == "cpu" and (_native_bf16() if bf16 == "auto" else bool(bf16))
    source = _model_source(p.base_weights)[0] if p.base_weights else False
    model = models.CellposeModel(device=device, gpu=device.type != "cpu", pretrained_model=source,
                                 mkldnn=False, nchan=2, diam_mean=p.diam_mean)
    t0 = time.time()
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, _bf16_forward(model.net, use_bf16):
        path, train_losses, test_losses = train.train_seg(
            model.net, train_data=train_i, train_labels=train_m, test_data=test_i, test_labels=test_m,
            channels=[0, 0], normalize=True, n_epochs=p.epochs, learning_rate=p.learning_rate,
            weight_decay=p.weight_decay, batch_size=p.batch_size, bsize=p.bsize, rescale=p.rescale,
            min_train_masks=p.min_train_masks, nimg_per_epoch=p.nimg_per_epoch, save_path=tmp,
            save_every=10**9, model_name="weights")
        weights = out_dir / WEIGHTS_NAME
        os.replace(path, weights)
    info = {
        "weights": WEIGHTS_NAME,
        "settings": {"base_weights": p.base_weights, "epochs": p.epochs, "learning_rate": p.learning_rate,
                     "weight_decay": p.weight_decay, "batch_size": p.batch_size, "bsize": p.bsize,
                     "diam_mean": float(model.net.diam_mean.item()), "rescale": p.rescale,
                     "min_train_masks": p.min_train_masks, "nimg_per_epoch": p.nimg_per_epoch,
                     "contrast_copies": p.contrast_copies,
                     "device": device.type, "bf16_autocast": use_bf16},
        "seed": p.seed,
        "data": {"n_images": len(given_i), "images_sha256": _checksum(given_i),
                 "masks_sha256": _checksum(given_m), "n_objects": int(sum(len(np.unique(m)) - 1 for m in given_m)),
                 "n_test_images": 0 if test_i is None else len(test_i),
                 "diam_labels_px": float(model.net.diam_labels.item())},
        "versions": {"cellpose": cellpose.version, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "losses": {"train_final": float(train_losses[-1]), "train": [float(x) for x in train_losses]},
        "time_s": round(time.time() - t0, 1),
    }
    tmp_json = out_dir / ".training.json.tmp"
    tmp_json.write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp_json, out_dir / "training.json")
    log.info("trained cellpose weights written to %s", weights)
    return weights
