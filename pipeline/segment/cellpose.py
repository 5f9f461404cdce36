"""Cellpose backend (cellpose 3.x API): a built-in model name or a path to trained weights.

The model is built once per `CellposeSegmenter` (once per rule run) and applied frame by frame.
Built-in names (`nuclei`, `cyto3`, ...) are downloaded by cellpose into ~/.cellpose/models on
first use, which needs internet; a path must exist (cellpose itself would only log and try to
download, so it is checked here).

Parameters (`CellposeParams`, the config's `segmentation.cellpose`): `model`, `diameter_um`
(null: the diameter the model was trained on), `flow_threshold`, `cellprob_threshold`,
`min_size_px`, `niter` (steps of following the flows; null: cellpose's 200 times the
resize factor; long, thin cells need more, e.g. 2000), `unconverged_min_size_px` (null: off;
see `add_unconverged_objects`), `channels`, `do_3D`, `stitch_threshold`,
`anisotropy` (null: z step / pixel size when the pixel size is given per axis), `gpu` (`auto`,
true, false), `batch_size`, `augment`.

3D frames (Z, Y, X) go to cellpose's eval with `z_axis=0` and either `do_3D` (the network run on
the YX, ZY and ZX planes of the stack, resampled in z by `anisotropy` so that voxels are cubic, and
one 3D flow field followed) or `stitch_threshold` (2D masks per plane, joined across z where they
overlap by this IoU). Exactly one of the two is needed; cellpose itself silently ignores
`stitch_threshold` under `do_3D`, so setting both is a ConfigError here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from marrowflow.errors import ConfigError
from marrowflow.schema import as_params, check_choice, config_section, schema_fields

log = logging.getLogger(__name__)

__all__ = ["CellposeParams", "CellposeSegmenter", "add_unconverged_objects", "resolve_device"]

_schema = schema_fields("segmentation.cellpose")


@dataclass(frozen=True)
class CellposeParams:
    """The cellpose backend's parameters (the config's `segmentation.cellpose`; defaults from the
    schema, which documents each key)."""

    SECTION: ClassVar[str] = "segmentation.cellpose"

    model: str = _schema("model")
    diameter_um: float | None = _schema("diameter_um")
    flow_threshold: float = _schema("flow_threshold")
    cellprob_threshold: float = _schema("cellprob_threshold")
    min_size_px: int = _schema("min_size_px")
    niter: int | None = _schema("niter")
    unconverged_min_size_px: int | None = _schema("unconverged_min_size_px")
    channels: tuple[int, int] = _schema("channels")
    do_3D: bool = _schema("do_3D")
    stitch_threshold: float = _schema("stitch_threshold")
    anisotropy: float | None = _schema("anisotropy")
    gpu: bool | str = _schema("gpu")
    batch_size: int = _schema("batch_size")
    augment: bool = _schema("augment")

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))  # hashable, whatever the config gives
        check_choice(self.SECTION, "gpu", self.gpu)
        if self.do_3D and self.stitch_threshold:
            raise ConfigError(f"{self.SECTION}: do_3D is true and stitch_threshold is {self.stitch_threshold}; "
                              "cellpose uses one of them for 3D frames (do_3D: one 3D flow field; "
                              "stitch_threshold: 2D masks joined across z). Set stitch_threshold: 0 or "
                              "do_3D: false.")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> CellposeParams:
        """From the `segmentation.cellpose` section; unknown keys raise ConfigError."""
        return config_section(cls, section)


def add_unconverged_objects(masks: np.ndarray, cellprob: np.ndarray, cellprob_threshold: float,
                            min_size_px: int) -> np.ndarray:
    """`masks` plus one new object per connected piece of pixels above `cellprob_threshold` that
    joined no mask and has at least `min_size_px` pixels (2D or 3D).

    Cellpose drops such pixels where the flows of a long, thin cell do not meet in one centre:
    the cell falls apart into pieces that fail the flow check. Existing masks are left as they are.
    """
    from scipy import ndimage as ndi

    masks = np.asarray(masks)
    if cellprob.shape != masks.shape:
        raise ValueError(f"cell probability {cellprob.shape} and masks {masks.shape} differ in shape")
    pieces, _ = ndi.label((cellprob > cellprob_threshold) & (masks == 0))
    keep = np.bincount(pieces.ravel()) >= min_size_px
    keep[0] = False
    added = np.where(keep, np.cumsum(keep) + int(masks.max()), 0)[pieces]
    return np.where(added > 0, added, masks).astype(np.uint32)


def resolve_device(gpu: bool | str):
    """torch device for the `gpu` setting: `auto` uses a GPU when one is visible; true requires one."""
    import torch

    check_choice("segmentation.cellpose", "gpu", gpu)
    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if gpu is True and not (has_cuda or has_mps):
        raise ConfigError(
            "segmentation.cellpose.gpu is true but torch sees no GPU on this machine "
            f"(torch {torch.__version__}, CUDA available: False). Run on a GPU node with a CUDA "
            "build of torch, or set segmentation.cellpose.gpu to auto or false to use the CPU.")
    if gpu is False or not (has_cuda or has_mps):
        return torch.device("cpu")
    return torch.device("cuda") if has_cuda else torch.device("mps")


def _model_source(model: str) -> tuple[str, bool]:
    """(path or built-in name, is_builtin); raises ConfigError for a missing path or unknown name."""
    if not isinstance(model, str) or not model:
        raise ConfigError(f"segmentation.cellpose.model is {model!r}; give a built-in model name "
                          "(nuclei, cyto3, ...) or a path to trained weights")
    if Path(model).is_file():
        return str(Path(model).resolve()), False
    looks_like_path = "/" in model or "\\" in model or Path(model).suffix in (".pth", ".pt", ".npy")
    if not looks_like_path:
        from cellpose import models
    if looks_like_path or model not in models.MODEL_NAMES:
        raise ConfigError(
            f"segmentation.cellpose.model: weights file {model!r} does not exist "
            f"(expected a file of trained cellpose weights, e.g. resources/models/<name>/<name>, "
            "or a built-in model name such as nuclei or cyto3). "
            "Fix the path, train a model with `marrowflow.segment.train.train_cellpose`, or use a built-in name.")
    return model, True


class CellposeSegmenter:
    """A cellpose model loaded once; `.segment(image)` labels one frame (Y, X) or (Z, Y, X)."""

    def __init__(self, params: CellposeParams | Mapping[str, Any] | None = None, *,
                 pixel_size_um: float | Sequence[float] | None = None):
        self.params: CellposeParams = as_params(CellposeParams, params)
        self.pixel_size_um = pixel_size_um
        self._warned_anisotropy = False
        source, builtin = _model_source(self.params.model)
        device = resolve_device(self.params.gpu)
        from cellpose import models

        try:
            self.model = models.CellposeModel(device=device, gpu=device.type != "cpu",
                                              pretrained_model=source, mkldnn=False)
        except Exception as exc:  # a built-in model that could not be downloaded
            where = "downloaded by cellpose into " + str(models.MODEL_DIR) if builtin else "read"
            raise ConfigError(
                f"segmentation.cellpose.model {source!r} could not be {where}: {exc}. "
                "On a machine without internet, copy the weights there or give a path to trained "
                "weights.") from exc

    def _diameter_px(self) -> float | None:
        d = self.params.diameter_um
        if d is None:
            return None
        if self.pixel_size_um is None:
            raise ConfigError("segmentation.cellpose.diameter_um is set but the movie's pixel size is "
                              "unknown; give the pixel size (config key image.pixel_size_um) or set diameter_um: null")
        yx = float(np.atleast_1d(self.pixel_size_um)[-1])
        return float(d) / yx

    def _anisotropy(self) -> float | None:
        """z step / pixel size for do_3D: the config's `anisotropy`, else from a (Z, Y, X) pixel
        size; None (cellpose: 1, cubic voxels) when neither is known, with a warning."""
        if self.params.anisotropy is not None:
            return float(self.params.anisotropy)
        size = np.atleast_1d(self.pixel_size_um) if self.pixel_size_um is not None else None
        if size is not None and size.size == 3:
            return float(size[0] / size[-1])
        if not self._warned_anisotropy:
            log.warning("segmentation.cellpose: do_3D on a 3D frame whose z step or pixel size is unknown; "
                        "voxels are taken as cubic. Give image.z_step_um and image.pixel_size_um, or "
                        "segmentation.cellpose.anisotropy (z step / pixel size).")
            self._warned_anisotropy = True
        return None

    def eval_kwargs(self, ndim: int) -> dict[str, Any]:
        """Keyword arguments of cellpose's `CellposeModel.eval` for a frame of `ndim` (2 or 3) axes."""
        p = self.params
        is_3d = ndim == 3
        if is_3d and not p.do_3D and not p.stitch_threshold:
            raise ConfigError("segmentation.cellpose: expected do_3D: true or stitch_threshold > 0 for a 3D "
                              "(Z, Y, X) frame, found neither. Fix: set segmentation.cellpose.do_3D: true "
                              "(one 3D segmentation, anisotropy from the z step) or stitch_threshold: 0.5 "
                              "(2D masks per plane joined across z).")
        do_3d = bool(p.do_3D) and is_3d
        return dict(channels=list(p.channels), z_axis=0 if is_3d else None, diameter=self._diameter_px(),
                    flow_threshold=p.flow_threshold, cellprob_threshold=p.cellprob_threshold,
                    min_size=p.min_size_px, niter=p.niter, do_3D=do_3d,
                    stitch_threshold=float(p.stitch_threshold) if is_3d else 0.0,
                    anisotropy=self._anisotropy() if do_3d else None, batch_size=p.batch_size,
                    augment=p.augment)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """uint32 labels 1..N of one frame; 3D frames are segmented in 3D (`do_3D`) or by
        stitching 2D planes (`stitch_threshold` > 0)."""
        from skimage.segmentation import relabel_sequential

        if image.ndim not in (2, 3):
            raise ValueError(f"cellpose backend takes a 2D or 3D frame, got shape {image.shape}")
        p = self.params
        masks, flows = self.model.eval(np.asarray(image, dtype=np.float32), **self.eval_kwargs(image.ndim))[:2]
        masks = np.asarray(masks).reshape(image.shape)
        if p.unconverged_min_size_px is not None:
            cellprob = np.asarray(flows[2], dtype=np.float32).reshape(image.shape)
            masks = add_unconverged_objects(masks, cellprob, p.cellprob_threshold, p.unconverged_min_size_px)
        return relabel_sequential(masks.astype(np.uint32))[0].astype(np.uint32)
