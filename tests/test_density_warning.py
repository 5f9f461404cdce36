"""A frame of pure noise segments into many "cells": segment_movie warns once, naming the frames;
real-looking cells (the synthetic organoid) and real sequences do not trigger it."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from marrowflow.io import NoCellsWarning, open_movie
from marrowflow.segment.movie import segment_movie
from marrowflow.segment.plausibility import (
    MIN_OBJECTS,
    NOISE_Z,
    ImplausibleSegmentationWarning,
    frame_contrast,
)
from marrowflow.segment.segmenter import make_segmenter
from marrowflow.synthetic import OrganoidParams, simulate_organoid

BUILT_IN = {"classic": {"preset": None}}  # the demo's settings; the shipped presets find next to nothing in noise
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _noise(kind: str, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "gauss":
        return rng.normal(1000, 50, (size, size)).clip(0).astype(np.uint16)
    return rng.poisson(float(kind.removeprefix("poisson")), (size, size)).astype(np.uint16)


def _write_movie(path: Path, frames: np.ndarray) -> Path:
    tifffile.imwrite(path, frames[:, None], metadata={"axes": "TCYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                                                      "TimeIncrement": 0.5, "TimeIncrementUnit": "h"})
    return path


@pytest.mark.parametrize("kind", ["gauss", "poisson1", "poisson10", "poisson100"])
@pytest.mark.parametrize("size", [256, 512])
def test_pure_noise_looks_like_noise(kind, size):
    image = _noise(kind, size)
    contrast = frame_contrast(make_segmenter(BUILT_IN, pixel_size_um=0.5)(image), image)
    assert contrast.n_objects >= MIN_OBJECTS and contrast.median_z < NOISE_Z / 2 and contrast.noise_like


def test_synthetic_cells_do_not_look_like_noise():
    sim = simulate_organoid(OrganoidParams(n_frames=3, size=(160, 160), n_founders=30, seed=3))
    segment = make_segmenter(BUILT_IN, pixel_size_um=0.5)
    for frame in sim.movie:
        contrast = frame_contrast(segment(frame[0]), frame[0])
        assert contrast.median_z > 3 * NOISE_Z and not contrast.noise_like


def test_few_objects_and_empty_frames_are_not_judged():
    labels = np.zeros((64, 64), np.uint32)
    assert frame_contrast(labels, np.zeros((64, 64))).n_objects == 0
    labels[10:14, 10:14] = 1
    assert not frame_contrast(labels, _noise("gauss", 64)).noise_like


@pytest.mark.parametrize(("sequence", "preset", "pixel_size_um"), [
    ("ctc-Fluo-N2DH-SIM+", "fluo_nuclei_widefield", 0.125), ("ctc-Fluo-N2DH-GOWT1", "fluo_nuclei", 0.24),
    ("ctc-Fluo-C2DL-MSC-segsubset", "whole_cell", 0.3)])
def test_real_sequences_do_not_look_like_noise(sequence, preset, pixel_size_um):
    files = sorted((SHARED / sequence / "01").glob("t*.tif"))
    if not files:
        pytest.skip(f"{sequence} not in ../shared/data")
    segment = make_segmenter({"classic": {"preset": preset}}, pixel_size_um=pixel_size_um)
    for path in (files[0], files[-1]):
        image = tifffile.imread(path)
        assert frame_contrast(segment(image), image).median_z > 3 * NOISE_Z


def test_segment_movie_warns_once_naming_the_noise_frames(tmp_path):
    sim = simulate_organoid(OrganoidParams(n_frames=2, size=(160, 160), n_founders=30, seed=3))
    frames = np.stack([sim.movie[0, 0], _noise("gauss", 160, 1), sim.movie[1, 0], _noise("poisson10", 160, 2)])
    movie = open_movie(_write_movie(tmp_path / "mixed.ome.tif", frames))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        segment_movie(movie, BUILT_IN, channel=0, out_path=tmp_path / "labels.tif")
    noise = [w for w in caught if issubclass(w.category, ImplausibleSegmentationWarning)]
    assert len(noise) == 1 and "2 of 4 frame(s)" in str(noise[0].message)
    assert "frame 1:" in str(noise[0].message) and ", 3:" in str(noise[0].message)
    assert not any(issubclass(w.category, NoCellsWarning) for w in caught)


def test_segment_movie_of_an_empty_movie_warns_no_cells(tmp_path):
    movie = open_movie(_write_movie(tmp_path / "empty.ome.tif", np.zeros((3, 64, 64), np.uint16)))
    with pytest.warns(NoCellsWarning, match="no cell in any frame"):
        segment_movie(movie, BUILT_IN, channel=0, out_path=tmp_path / "labels.tif")
