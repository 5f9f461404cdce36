"""The napari review plugin, run for real (Xvfb, Qt xcb): reader, widget actions, painting with a
real mouse event, saving, the npe2 manifest and a screenshot of the docked widget; a 3D sample in
slices and in the 3D view, its edits picked up by a rerun of the workflow."""

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from qtpy.QtCore import QPoint, Qt

from marrowflow.review.files import Review, load_review, save_review
from marrowflow_review._arrays import EditableLabels
from marrowflow_review._demo import make_demo_results
from marrowflow_review._reader import napari_get_reader

from workflow_helpers import run_snakemake

pytestmark = pytest.mark.napari
PLUGIN = "marrowflow"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    return make_demo_results(tmp_path_factory.mktemp("template"), "s1")


@pytest.fixture
def results(demo_template, tmp_path):
    """A fresh copy of a tiny project (6 frames, 3 channels, 5 tracks; track 1 divides into 2, 3)."""
    project = tmp_path / "project"
    shutil.copytree(demo_template.parent.parent, project)
    return project / "results" / "s1"


def _open(viewer, results):
    viewer.open(str(results), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Review")
    return widget


def _click_centre(qtbot, viewer) -> None:
    """A real left click (press, release) in the middle of the canvas."""
    native = viewer.window._qt_viewer.canvas.native
    qtbot.waitExposed(native)
    centre = QPoint(native.width() // 2, native.height() // 2)
    qtbot.mousePress(native, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseRelease(native, Qt.MouseButton.LeftButton, pos=centre)


def _links(tracks: pd.DataFrame) -> dict:
    g = tracks.groupby("track_id")
    return {int(k): (int(v["frame"].min()), int(v["frame"].max()), int(v["parent_track_id"].iloc[0])) for k, v in g}


def test_editable_labels_index_like_numpy():
    base = np.arange(2 * 3 * 4, dtype=np.uint32).reshape(2, 3, 4)
    stack = EditableLabels(lambda t: base[t], 2, (3, 4))
    np.testing.assert_array_equal(stack[1], base[1])
    np.testing.assert_array_equal(stack[0:2, 1], base[0:2, 1])
    idx = (np.array([0, 1, 1]), np.array([0, 2, 1]), np.array([3, 0, 1]))
    np.testing.assert_array_equal(stack[idx], base[idx])
    stack[idx] = 99
    stack[0:1, 0:1, 0:2] = np.full((1, 1, 2), 7)
    expected = base.copy()
    expected[idx] = 99
    expected[0:1, 0:1, 0:2] = 7
    np.testing.assert_array_equal(stack[:], expected)
    assert stack.edited == {0, 1} and base[1, 2, 0] == 20  # the source is never written


def test_tracks_layer_is_the_library_format(results):
    from marrowflow.track.napari import napari_tracks
    from marrowflow_review._reader import session_layers
    from marrowflow_review._session import ReviewSession

    session = ReviewSession(results)
    session.split(4, 3)
    data, kwargs, kind = session_layers(session)[-1]
    want_data, want_graph = napari_tracks(session.tracks)
    assert kind == "tracks"
    np.testing.assert_array_equal(data, want_data)
    assert kwargs["graph"] == want_graph == {2: [1], 3: [1]}
    untracked = session.tracks.head(1).assign(track_id=0, parent_track_id=0)  # a cell on no track: left out
    np.testing.assert_array_equal(napari_tracks(pd.concat([session.tracks, untracked]))[0], want_data)


def _write_config(project, **keys) -> None:
    config = {"channels": [{"name": "nuclei", "role": "nuclear"}, {"name": "CD34"}, {"name": "CD235a"}],
              "classification": {"classes": [{"name": n, "when": {"CD34": "pos"}}
                                             for n in ("myeloid", "progenitor", "erythroid", "megakaryocyte")]},
              **keys}
    (project / "config.yaml").write_text(yaml.safe_dump(config))


def test_project_config_gives_folders_and_classes(results):
    from marrowflow_review._session import ReviewSession

    project = results.parent.parent
    moved = project / "out" / "run1" / "s1"
    moved.parent.mkdir(parents=True)
    shutil.move(results, moved)
    shutil.rmtree(project / "results")
    _write_config(project, results="out/run1", reviews="corrections")
    session = ReviewSession(moved / "metadata.json")
    assert session.project.folder == project.resolve() and session.project.config_error is None
    assert session.review_dir == project.resolve() / "corrections" / "s1"
    assert session.classes == ["myeloid", "progenitor", "erythroid", "megakaryocyte", "unknown"]
    assert session.movie.read_frame(0).shape == (3, 64, 96)  # the movie path is relative to the project
    session.set_type(0, 4, "megakaryocyte")
    session.save(user="test")
    assert load_review(project / "corrections" / "s1").cell_types["cell_type"].tolist() == ["megakaryocyte"]


def test_without_a_matching_config_the_folders_are_the_defaults(results):
    from marrowflow_review._session import ReviewSession

    project = results.parent.parent
    session = ReviewSession(results)
    assert session.project.config is None and session.project.config_error is None
    assert session.review_dir == project.resolve() / "reviews" / "s1"
    assert session.classes == ["erythroid", "myeloid", "progenitor", "unknown"]  # the table's types, sorted
    _write_config(project, results="elsewhere")  # a config for other results: not this sample's project
    session = ReviewSession(results)
    assert session.project.config is None and session.review_dir == project.resolve() / "reviews" / "s1"


def test_an_invalid_config_is_shown_not_swallowed(make_napari_viewer, results):
    project = results.parent.parent
    _write_config(project, tracking={"gap_closing_frame": 2})
    viewer = make_napari_viewer()
    widget = _open(viewer, results)
    s = widget.session
    assert "gap_closing_frame" in s.project.config_error
    assert str(project.resolve() / "config.yaml") in s.project.config_error
    assert "config not used" in widget.header.text() and "gap_closing_frame" in widget.header.text()
    assert "config.yaml invalid, not used" in s.status()
    assert s.review_dir == project.resolve() / "reviews" / "s1" and "megakaryocyte" not in s.classes


def test_layers_legend_and_lineage_use_the_report_palette(make_napari_viewer, results):
    from matplotlib.colors import to_hex

    from marrowflow.report.palette import type_colours

    viewer = make_napari_viewer()
    widget = _open(viewer, results)
    s = widget.session
    colours = type_colours(s.classes)
    cmap = viewer.layers["cell types"].colormap
    for k, name in enumerate(s.classes, start=1):  # value k sits mid-step of the k-th colour
        rgba = cmap.map(np.array([(k + 0.5) / (len(s.classes) + 1)]))[0]
        assert to_hex(rgba) == colours[name], name
    swatches = [widget.legend.itemAt(i).widget() for i in range(widget.legend.count())]
    assert [w.styleSheet() for w in swatches if not w.text().strip()] == [
        f"background-color: {colours[name]};" for name in s.classes]
    widget.go_to(3, 2)
    tree = s.lineage(2)
    assert tree["track_id"].tolist() == [2, 1, 3] and tree["y"].tolist() == [0.0, 0.5, 1.0]
    cells = s.tracks[s.tracks["track_id"].isin([1, 2, 3])]
    drawn = np.concatenate([c.get_facecolors() for c in widget.axes.collections])
    assert sorted(map(to_hex, drawn)) == sorted(colours[t] for t in cells["cell_type"])


def test_reader_gives_channels_labels_types_tracks(make_napari_viewer, results):
    assert napari_get_reader(str(results / "metadata.json")) is not None
    assert napari_get_reader(str(results.parent)) is None
    viewer = make_napari_viewer()
    viewer.open(str(results), plugin=PLUGIN)
    names = [layer.name for layer in viewer.layers]
    assert names == ["nuclei", "CD34", "CD235a", "labels", "cell types", "tracks"]
    nuclei, cd34 = viewer.layers["nuclei"], viewer.layers["CD34"]
    assert nuclei.colormap.name == "gray" and cd34.colormap.name == "green"
    np.testing.assert_allclose(nuclei.scale, [1, 0.65, 0.65])
    assert nuclei.data.shape == (6, 64, 96)
    labels = viewer.layers["labels"]
    assert isinstance(labels.data, EditableLabels) and not labels.data.frames  # lazy: nothing copied
    assert viewer.layers["tracks"].graph == {2: [1], 3: [1]}
    # the cell types layer holds each cell's type index (1-based in session.classes)
    session = labels.metadata["marrowflow_session"]
    cell = session.cell(0, 4)
    type_value = viewer.layers["cell types"].data[0, int(cell["y"]), int(cell["x"])]
    assert session.classes[type_value - 1] == cell["cell_type"]


def test_reader_shows_the_existing_review(make_napari_viewer, results):
    review_dir = results.parent.parent / "reviews" / "s1"
    edits = pd.DataFrame([{"action": "unlink", "frame": 2, "label": 1, "next_frame": 3, "next_label": 2}])
    save_review(review_dir, Review(cell_types=pd.DataFrame({"frame": [0], "label": [4], "cell_type": ["erythroid"]}),
                                   track_edits=edits), n_frames=6, shape_zyx=(64, 96))
    viewer = make_napari_viewer()
    viewer.open(str(results / "provenance.json"), plugin=PLUGIN)
    assert viewer.layers["tracks"].graph == {3: [1]}
    session = viewer.layers["labels"].metadata["marrowflow_session"]
    assert session.cell(0, 4)["cell_type"] == "erythroid" and session.cell(0, 4)["type_source"] == "review"


def test_type_keys_table_and_whole_track(make_napari_viewer, qtbot, results):
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)  # shortcuts need a shown, active window
    widget = _open(viewer, results)
    s = widget.session
    widget.tabs.setCurrentIndex(0)
    widget.low_score.setChecked(True)
    widget.score_max.setValue(0.5)
    shown = [float(widget.table.item(r, 4).text()) for r in range(widget.table.rowCount())]
    assert shown and max(shown) < 0.5 and shown == sorted(shown)
    widget.low_score.setChecked(False)
    widget.type_filter.setCurrentText("myeloid")
    assert {widget.table.item(r, 3).text() for r in range(widget.table.rowCount())} == {"myeloid"}
    widget.type_filter.setCurrentText("all")
    # select cell 4 of frame 2 by a real click on the canvas (the tracks layer is the active one)
    viewer.dims.set_current_step(0, 2)
    cell = s.cell(2, 4)
    viewer.scene.camera.center = (cell["y"] * 0.65, cell["x"] * 0.65)
    viewer.scene.camera.zoom = 10
    _click_centre(qtbot, viewer)
    assert s.selected == (2, 4)
    assert "frame 2 label 4" in widget.selected_label.text()
    assert s.cell(2, 4)["cell_type"] == "erythroid"
    k = s.classes.index("myeloid") + 1
    viewer.window._qt_window.activateWindow()
    qtbot.waitUntil(widget.table.hasFocus, timeout=3000)  # selecting a cell focuses the panel
    qtbot.keyClick(QApplication.focusWidget(), str(k))  # so the next key 1-9 types the cell
    assert s.cell(2, 4)["cell_type"] == "myeloid" and s.cell(3, 4)["cell_type"] == "erythroid"
    row = widget.table.selectionModel().selectedRows()[0].row()  # the typed cell stays selected
    assert (widget.table.item(row, 0).text(), widget.table.item(row, 1).text()) == ("2", "4")
    widget.table.selectRow(0)  # walking the table goes to that cell
    first = (int(widget.table.item(0, 0).text()), int(widget.table.item(0, 1).text()))
    assert s.selected == first and viewer.dims.current_step[0] == first[0]
    widget.go_to(2, 4)
    widget.along_track.setChecked(True)
    widget.type_buttons[s.classes.index("progenitor")].click()
    assert (s.tracks.loc[(s.tracks["track_id"] == 4) & (s.tracks["frame"] >= 2), "cell_type"] == "progenitor").all()
    assert s.cell(1, 4)["cell_type"] == "erythroid" and s.cell(1, 4)["type_source"] == "rule"
    assert "unsaved: 5 cell type(s)" in widget.status.text()


def test_track_buttons_edit_tracks_and_lineage(make_napari_viewer, qtbot, results):
    viewer = make_napari_viewer()
    widget = _open(viewer, results)
    s = widget.session
    widget.go_to(4, 5)  # a single-cell track (label 5 = track 5)
    widget.split_button.click()
    links = _links(s.tracks)
    new = max(links)
    assert links[5] == (0, 3, 0) and links[new] == (4, 5, 0)
    widget.other_track.setValue(new)
    widget.go_to(3, 5)
    widget.join_button.click()
    assert _links(s.tracks)[5] == (0, 5, 0) and new not in _links(s.tracks)
    widget.go_to(3, 2)
    widget.unparent_button.click()
    assert _links(s.tracks)[2][2] == 0 and viewer.layers["tracks"].graph == {3: [1]}
    widget.other_track.setValue(1)
    widget.parent_button.click()
    assert viewer.layers["tracks"].graph == {2: [1], 3: [1]}
    assert len(widget.axes.lines) >= 3  # the lineage tree of track 2: mother, two daughters (+ links)
    widget.go_to(0, 4)
    widget.delete_button.click()
    assert 4 not in set(s.tracks["track_id"])
    assert "track 4 deleted" in widget.status.text()
    n_edits = len(s.pending.track_edits)
    widget.undo_button.click()
    assert 4 in set(s.tracks["track_id"]) and len(s.pending.track_edits) < n_edits
    assert "undone: track 4 deleted" in widget.status.text()
    viewer.window.remove_dock_widget("all")
    widget.deleteLater()  # a deleted widget leaves no callbacks behind
    qtbot.waitUntil(lambda: widget._on_click not in viewer.mouse_drag_callbacks, timeout=5000)
    viewer.dims.set_current_step(0, 1)


def test_paint_with_mouse_and_save(make_napari_viewer, qtbot, results):
    viewer = make_napari_viewer(show=True)
    widget = _open(viewer, results)
    viewer.window._qt_window.resize(1000, 700)
    labels = viewer.layers["labels"]
    viewer.dims.set_current_step(0, 3)
    viewer.scene.camera.center = (20 * 0.65, 20 * 0.65)  # pixel (20, 20): background
    viewer.scene.camera.zoom = 10
    widget.start_painting()
    labels.brush_size = 3
    labels.selected_label = 77
    _click_centre(qtbot, viewer)
    assert labels.data[3, 20, 20] == 77
    assert labels.data[2, 20, 20] == 0
    assert 3 in widget.session.pending.reviewed_frames
    assert "labels edited in frame(s) [3]" in widget.status.text()
    widget.viewer.dims.set_current_step(0, 1)
    widget.mark_button.click()
    before = sorted(p.name for p in results.rglob("*"))
    mtimes = {p: p.stat().st_mtime_ns for p in results.rglob("*")}
    widget.save_button.click()
    review_dir = results.parent.parent / "reviews" / "s1"
    assert (review_dir / "reviewed_frames.txt").read_text() == "1\n3\n"
    saved = load_review(review_dir)
    assert saved.label_frame(3)[20, 20] == 77 and saved.label_frame(1).max() > 0
    assert "all saved" in widget.status.text()
    assert sorted(p.name for p in results.rglob("*")) == before  # nothing written into results/
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    widget.choose_folder(str(results / "mine"))
    assert "never written into the results folder" in widget.status.text()
    other = results.parent.parent / "reviews_b" / "s1"
    widget.choose_folder(str(other))
    assert widget.session.review_dir == other and widget.session.saved.is_empty
    assert labels.data[3, 20, 20] == 0  # the segmentation again: that folder holds no review


def test_npe2_validate_with_imports():
    out = subprocess.run([sys.executable, "-m", "npe2", "validate", PLUGIN, "--imports"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in (out.stdout + out.stderr).lower()


def test_screenshot_with_docked_widget_is_not_blank(make_napari_viewer, results):
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)
    assert QApplication.platformName() == "xcb"  # a real X server (Xvfb), not the offscreen platform
    widget = _open(viewer, results)
    viewer.window._qt_window.resize(1400, 900)
    widget.go_to(3, 2)
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.shape[0] >= 600 and shot.shape[1] >= 1000
    rgb = shot[..., :3].astype(float)
    assert rgb.std() > 10 and len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50


# ---------------------------------------------------------------------------- a 3D sample (T, Z, Y, X)
@pytest.fixture
def spheroid(tiny_spheroid_project, tmp_path):
    """A fresh copy of a 3D project the workflow ran on (12 frames of 12 x 64 x 64 voxels, z step
    4x the pixel size); its results folder."""
    project = tmp_path / "project"
    shutil.copytree(tiny_spheroid_project, project, symlinks=True)
    return project / "results" / "spheroid"


def _centre_voxel(session, frame: int, label: int) -> tuple[int, int, int]:
    cell = session.cell(frame, label)
    return int(round(cell["z"])), int(round(cell["y"])), int(round(cell["x"]))


def _cell_on_top(session, frame: int, *, tracked_before: bool = False) -> int:
    """A cell of `frame` that is the first one seen at its centre from above (the 3D view's default
    camera looks down the z axis), optionally one whose track was there a frame before."""
    labels = session.labels.frame(frame)
    tracks = session.tracks
    for label in tracks.loc[tracks["frame"] == frame, "label"]:
        _, y, x = _centre_voxel(session, frame, label)
        column = labels[:, y, x]
        on_top = column[column > 0][-1:].tolist() == [label]
        track = session.cell(frame, label)["track_id"]
        if on_top and (not tracked_before or ((tracks["frame"] == frame - 1) & (tracks["track_id"] == track)).any()):
            return int(label)
    raise AssertionError(f"no cell of frame {frame} is on top at its centre")


@pytest.mark.slow
def test_reader_opens_3d_results_with_the_z_scale(make_napari_viewer, spheroid):
    viewer = make_napari_viewer()
    viewer.open(str(spheroid), plugin=PLUGIN)
    session = viewer.layers["labels"].metadata["marrowflow_session"]
    md = session.metadata
    assert md.axes == "TCZYX" and md.z_step_um == pytest.approx(4 * md.pixel_size_um)
    assert [layer.name for layer in viewer.layers] == [*md.channel_names, "labels", "cell types", "tracks"]
    for layer in viewer.layers:  # images, labels, types and tracks share the (frame, z, y, x) scale
        assert layer.ndim == 4, layer.name
        np.testing.assert_allclose(layer.scale, [1, md.z_step_um, md.pixel_size_um, md.pixel_size_um])
    assert viewer.layers["nuclei"].data.shape == viewer.layers["labels"].data.shape == (12, 12, 64, 64)
    assert viewer.dims.range[1].step == pytest.approx(md.z_step_um)
    tracks = viewer.layers["tracks"]  # rows [track_id, t, z, y, x] in voxels
    table = session.tracks[session.tracks["track_id"] > 0].sort_values(["track_id", "frame"], kind="stable")
    np.testing.assert_allclose(tracks.data[:, 1:], table[["frame", "z", "y", "x"]])
    label = _cell_on_top(session, 5)
    z, y, x = _centre_voxel(session, 5, label)
    types = viewer.layers["cell types"].data[5]
    assert session.classes[types[z, y, x] - 1] == session.cell(5, label)["cell_type"]


@pytest.mark.slow
def test_3d_edits_in_slices_and_the_3d_view_are_picked_up_by_a_rerun(make_napari_viewer, qtbot, spheroid):
    viewer = make_napari_viewer(show=True)
    widget = _open(viewer, spheroid)
    viewer.window._qt_window.resize(1000, 700)
    s, labels = widget.session, viewer.layers["labels"]
    md = s.metadata
    # in slices: going to a cell shows its plane centred on it; a click selects it, a button types it
    a = next(lab for lab in s.tracks.loc[s.tracks["frame"] == 3, "label"]
             if s.labels.frame(3)[_centre_voxel(s, 3, lab)] == lab)
    plane, y, x = _centre_voxel(s, 3, a)
    widget.go_to(3, a)
    assert viewer.dims.current_step[:2] == (3, plane)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], s.world_position(3, a)[2:])
    viewer.scene.camera.zoom = 10
    s.selected = None
    _click_centre(qtbot, viewer)
    assert s.selected == (3, a)
    widget.type_buttons[s.classes.index("megakaryocyte")].click()
    # ... and painting changes that plane only
    widget.start_painting()
    labels.brush_size = 5
    labels.selected_label = 999
    _click_centre(qtbot, viewer)
    painted = np.argwhere(labels.data.frame(3) == 999)
    assert len(painted) >= 9 and set(painted[:, 0]) == {plane}
    # in the 3D view: a click selects the first cell under the mouse; types and tracks are edited
    labels.mode = "pan_zoom"
    viewer.dims.ndisplay = 3
    b = _cell_on_top(s, 6, tracked_before=True)
    widget.go_to(6, b)
    np.testing.assert_allclose(viewer.scene.camera.center, s.world_position(6, b)[1:])
    assert viewer.screenshot(canvas_only=True, flash=False)[..., :3].std() > 10  # the volume renders
    s.selected = None
    _click_centre(qtbot, viewer)
    assert s.selected == (6, b)
    widget.type_buttons[s.classes.index("erythroid")].click()
    track = int(s.cell(6, b)["track_id"])
    before = int(s.tracks.loc[(s.tracks["track_id"] == track) & (s.tracks["frame"] == 5), "label"].item())
    widget.split_button.click()
    assert s.cell(6, b)["track_id"] != s.cell(5, before)["track_id"]
    # ... and a 3D fill with the background deletes a whole cell (every plane of it)
    e = _cell_on_top(s, 9)
    assert len(set(np.nonzero(s.labels.frame(9) == e)[0])) >= 2
    widget.go_to(9, e)
    widget.start_painting()
    labels.mode = "fill"
    labels.n_edit_dimensions = 3
    labels.selected_label = 0
    _click_centre(qtbot, viewer)
    assert not (labels.data.frame(9) == e).any()
    assert s.pending.reviewed_frames == [3, 9]
    widget.save_button.click()
    assert "all saved" in widget.status.text()
    review_dir = spheroid.parent.parent / "reviews" / "spheroid"
    saved = load_review(review_dir)
    assert saved.reviewed_frames == [3, 9]
    assert tifffile.imread(review_dir / "labels.tif").shape == (md.n_frames, *md.shape_zyx)
    assert sorted(map(tuple, saved.cell_types[["frame", "label", "cell_type"]].to_numpy().tolist())) == [
        (3, a, "megakaryocyte"), (6, b, "erythroid")]
    assert saved.track_edits[["action", "frame", "label", "next_frame", "next_label"]].values.tolist() == [
        ["unlink", 5, before, 6, b]]
    # the rerun picks every edit up
    result = run_snakemake(spheroid.parent.parent, "results/spheroid/tracks.parquet")
    assert result.returncode == 0, result.stderr[-4000:]
    tracks = pd.read_parquet(spheroid / "tracks.parquet").set_index(["frame", "label"])
    assert (9, e) not in tracks.index
    assert tracks.loc[(3, 999), "z"] == plane
    for cell, kind in (((3, a), "megakaryocyte"), ((6, b), "erythroid")):
        assert (tracks.loc[cell, "cell_type"], tracks.loc[cell, "type_source"]) == (kind, "review")
    assert tracks.loc[(6, b), "track_id"] != tracks.loc[(5, before), "track_id"]
    assert tracks.loc[(6, b), "parent_track_id"] != tracks.loc[(5, before), "track_id"]
