"""OME-Zarr in and out, checked with the real clients: images written by ome-zarr's own writer
(NGFF 0.4 and 0.5, plates) read lazily as movies, label stacks written as NGFF label images that
ome-zarr's reader reads back equal to the TIFF output, and a killed write leaving nothing."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader
from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

from marrowflow.errors import InputError
from marrowflow.io import LabelStackWriter, gather_label_chunks, open_labels, open_movie, read_label_frame
from marrowflow.io.ome_zarr import LABEL_NAME, pyramid_shapes
from marrowflow.workflow.discovery import discover_samples, expand_plates
from marrowflow.workflow.preflight import sample_problems

RNG = np.random.default_rng(7)
LABELS = RNG.integers(0, 6, (4, 130, 150)).astype(np.uint32) * 1000  # 4 frames, 2 pyramid levels


def _write_both(folder: Path, stack: np.ndarray, scale=(0.25, 0.5, 0.5)) -> tuple[Path, Path]:
    paths = folder / "labels.tif", folder / "labels.ome.zarr"
    for path in paths:
        with LabelStackWriter(path, len(stack), stack.shape[1:], scale=scale) as writer:
            for t, frame in enumerate(stack):
                writer.write(t, frame)
    return paths


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_written_labels_read_back_by_ome_zarr_equal_to_tiff(tmp_path):
    tif, zarr_path = _write_both(tmp_path, LABELS)
    nodes = list(Reader(parse_url(str(zarr_path / "labels" / LABEL_NAME)))())
    node = nodes[0]
    assert node.load(Label) is not None and node.load(Multiscales) is not None
    assert [a["name"] for a in node.metadata["axes"]] == ["t", "y", "x"]
    assert [tuple(d.shape) for d in node.data] == [(4, 130, 150), (4, 65, 75)]
    assert [d.chunksize for d in node.data] == [(1, 130, 150), (1, 65, 75)]  # one chunk per frame
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales == [[0.25, 0.5, 0.5], [0.25, 1.0, 1.0]]
    from_tiff = tifffile.imread(tif)
    np.testing.assert_array_equal(np.asarray(node.data[0]), from_tiff)
    np.testing.assert_array_equal(np.asarray(node.data[1]), from_tiff[:, ::2, ::2])
    assert np.asarray(node.data[0]).dtype == np.uint32
    with open_labels(zarr_path) as stack:  # the one reader every step uses
        assert (stack.n_frames, stack.shape_zyx, stack.scale) == (4, (130, 150), (0.25, 0.5, 0.5))
        np.testing.assert_array_equal(np.stack(list(stack)), LABELS)
    np.testing.assert_array_equal(read_label_frame(zarr_path, 2), LABELS[2])


def test_chunks_gathered_into_zarr_equal_an_unsplit_stack(tmp_path):
    chunks = []
    for start, stop in ((0, 3), (3, 4)):
        chunks.append(tmp_path / f"labels_{start}-{stop}.tif")
        with LabelStackWriter(chunks[-1], stop - start, LABELS.shape[1:]) as writer:
            for i, t in enumerate(range(start, stop)):
                writer.write(i, LABELS[t])
    assert gather_label_chunks(chunks, tmp_path / "labels.ome.zarr", scale=(0.25, 0.5, 0.5)) == 4
    with open_labels(tmp_path / "labels.ome.zarr") as stack:
        assert stack.scale == (0.25, 0.5, 0.5)
        np.testing.assert_array_equal(np.stack(list(stack)), LABELS)


def test_zarr_labels_3d_and_unknown_scale(tmp_path):
    stack = RNG.integers(0, 3, (2, 3, 20, 24)).astype(np.uint32)
    path = tmp_path / "labels.ome.zarr"
    with LabelStackWriter(path, 2, (3, 20, 24), scale=(None, None, None, None)) as writer:
        for t in range(2):
            writer.write(t, stack[t])
    node = next(Reader(parse_url(str(path / "labels" / LABEL_NAME)))())
    assert [a["name"] for a in node.metadata["axes"]] == ["t", "z", "y", "x"]
    assert all("unit" not in a for a in node.metadata["axes"])  # nothing claimed that was not known
    assert len(node.data) == 1  # 20 x 24 is below the pyramid's smallest level
    with open_labels(path) as labels:
        np.testing.assert_array_equal(np.stack(list(labels)), stack)


def test_zarr_labels_are_byte_reproducible(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    _write_both(tmp_path / "a", LABELS)
    _write_both(tmp_path / "b", LABELS)
    assert _files(tmp_path / "a" / "labels.ome.zarr") == _files(tmp_path / "b" / "labels.ome.zarr")


def test_pyramid_halves_yx_down_to_the_smallest_level():
    assert pyramid_shapes((1024, 1024)) == [(1024, 1024), (512, 512), (256, 256), (128, 128), (64, 64)]
    assert pyramid_shapes((5, 200, 129)) == [(5, 200, 129), (5, 100, 65)]


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "labels.ome.zarr"
    with pytest.raises(RuntimeError), LabelStackWriter(path, 4, (130, 150)) as writer:
        writer.write(0, LABELS[0])
        raise RuntimeError("segmentation crashed")
    with pytest.raises(ValueError, match="only 1 of 4"), LabelStackWriter(path, 4, (130, 150)) as writer:
        writer.write(0, LABELS[0])
    assert list(tmp_path.iterdir()) == []


def test_killed_write_leaves_no_complete_looking_image(tmp_path):
    path = tmp_path / "labels.ome.zarr"
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from marrowflow.io import LabelStackWriter
        with LabelStackWriter({str(path)!r}, 4, (130, 150)) as writer:
            writer.write(0, np.ones((130, 150), np.uint32))
            writer.write(1, np.ones((130, 150), np.uint32))
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL
    assert not path.exists()
    (temp,) = tmp_path.iterdir()  # the killed writer's hidden temporary folder
    assert temp.name.startswith(".tmp.") and temp.name.endswith("labels.ome.zarr")
    assert "multiscales" not in str(zarr.open_group(temp / "labels" / LABEL_NAME, mode="r").attrs.asdict())
    with pytest.raises(InputError, match="multiscales"):
        open_labels(temp)
    _write_both(tmp_path, LABELS)  # the next writer cleans the dead one's folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.ome.zarr", "labels.tif"]


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["ngff0.4", "ngff0.5"])
def test_ome_zarr_image_read_as_movie(tmp_path, fmt):
    movie = RNG.integers(0, 4000, (3, 2, 4, 40, 50)).astype(np.uint16)
    path = tmp_path / "movie.ome.zarr"
    write_image(movie, str(path), axes="tczyx", fmt=fmt, scale_factors=(2,),
                scale={"t": 30.0, "c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5},
                axes_units={"t": "minute", "z": "micrometer", "y": "micrometer", "x": "micrometer"})
    with open_movie(path) as m:
        md = m.metadata
        assert (md.axes, md.file_axes, md.n_frames, md.n_channels, md.shape_zyx) == ("TCZYX", "TCZYX", 3, 2,
                                                                                     (4, 40, 50))
        assert (md.pixel_size_um, md.z_step_um, md.time_step_h, md.dtype) == (0.5, 2.0, 0.5, "uint16")
        assert md.channel_names == ["c0", "c1"]
        for t in range(3):
            np.testing.assert_array_equal(m.read_frame(t), movie[t])


def test_ome_zarr_without_channel_axis_and_named_channels(tmp_path):
    movie = RNG.integers(0, 255, (2, 30, 30)).astype(np.uint8)
    path = tmp_path / "m.zarr"
    write_image(movie, str(path), axes="tyx", scale_factors=())
    with open_movie(path, channel_names=["nuclei"], pixel_size_um=0.4) as m:
        assert (m.metadata.axes, m.metadata.channel_names, m.metadata.pixel_size_um) == ("TCYX", ["nuclei"], 0.4)
        np.testing.assert_array_equal(m.read_frame(1), movie[1][None])
    with pytest.raises(InputError, match=r"m\.zarr: expected a channel axis for the 2 channels.*Fix:"):
        open_movie(path, channel_names=["nuclei", "CD34"])


def test_zarr_errors_name_the_file_and_the_fix(tmp_path):
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w").attrs["hello"] = 1
    with pytest.raises(InputError, match=r"plain\.zarr: expected OME-Zarr image metadata \(multiscales\).*Fix:"):
        open_movie(plain)
    odd = tmp_path / "odd.zarr"
    group = zarr.open_group(str(odd), mode="w", zarr_format=3)
    group.create_array("0", shape=(2, 8, 8), dtype=np.uint8)
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": "p"}, {"name": "y"}, {"name": "x"}],
                                                             "datasets": [{"path": "0"}]}]}
    with pytest.raises(InputError, match=r"odd\.zarr: expected axes named from t, c, z, y, x.*p unknown.*Fix:"):
        open_movie(odd)
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    (broken / "zarr.json").write_text("{not json")
    with pytest.raises(InputError, match=r"broken\.zarr: expected readable zarr group metadata.*Fix:"):
        open_movie(broken)
    with pytest.raises(InputError, match=r"missing\.ome\.zarr: expected a movie file.*found nothing"):
        open_movie(tmp_path / "missing.ome.zarr")


def _plate(path: Path, wells: dict[str, int]) -> None:
    rows, cols = sorted({w[0] for w in wells}), sorted({w[1:] for w in wells})
    root = zarr.open_group(str(path), mode="w")
    write_plate_metadata(root, rows, cols, [f"{w[0]}/{w[1:]}" for w in wells])
    for well, n_fields in wells.items():
        group = root.require_group(f"{well[0]}/{well[1:]}")
        write_well_metadata(group, [str(f) for f in range(n_fields)])
        for f in range(n_fields):
            write_image(np.full((2, 16, 16), 10 * f + 1, np.uint16), group.require_group(str(f)), axes="tyx",
                        scale_factors=())


def test_plate_gives_one_sample_per_well_and_field(tmp_path):
    images = tmp_path / "images"
    _plate(images / "exp1.ome.zarr", {"A1": 2, "B3": 1})
    write_image(np.zeros((2, 16, 16), np.uint16), str(images / "single.ome.zarr"), axes="tyx", scale_factors=())
    found = discover_samples(images, "*.zarr")
    assert list(found["sample"]) == ["exp1_A1_0", "exp1_A1_1", "exp1_B3_0", "single"]
    assert [Path(p).relative_to(images).as_posix() for p in found["path"]] == [
        "exp1.ome.zarr/A/1/0", "exp1.ome.zarr/A/1/1", "exp1.ome.zarr/B/3/0", "single.ome.zarr"]
    with open_movie(found["path"][1], channel_names=["nuclei"]) as m:
        assert m.read_frame(0).max() == 11
    sheet = pd.DataFrame({"sample": ["p", "t"], "path": ["images/exp1.ome.zarr", "x.tif"], "condition": ["a", "b"]})
    expanded = expand_plates(sheet, tmp_path)
    assert list(expanded["sample"]) == ["p_A1_0", "p_A1_1", "p_B3_0", "t"]
    assert list(expanded["condition"]) == ["a", "a", "a", "b"]
    with pytest.raises(InputError, match=r"exp1\.ome\.zarr: expected an OME-Zarr image, found a plate.*Fix:"):
        open_movie(images / "exp1.ome.zarr")


def test_preflight_reads_zarr_headers(tmp_path):
    from marrowflow.workflow.config import validate_config

    path = tmp_path / "m.ome.zarr"
    write_image(np.zeros((2, 1, 20, 20), np.uint16), str(path), axes="tcyx", scale_factors=(),
                scale={"t": 0.5, "c": 1.0, "y": 0.65, "x": 0.65}, axes_units={"t": "hour", "y": "micrometer",
                                                                           "x": "micrometer"})
    config = validate_config({"channels": [{"name": "nuclei", "role": "nuclear"}]})
    assert sample_problems(config, "m", {"path": "m.ome.zarr", "channels": "nuclei"}, base_dir=tmp_path) == []
    problems = sample_problems(config, "m", {"path": "m.ome.zarr", "channels": "nuclei,CD34"}, base_dir=tmp_path)
    assert len(problems) == 1 and "2 channels" in problems[0].what and os.fspath("m.ome.zarr") in problems[0].file
