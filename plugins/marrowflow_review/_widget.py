"""The docked review widget: cell types, labels, tracks (with the lineage plot), status and save.

Thin: every edit is a `ReviewSession` method (plain tables and arrays, tested without Qt); this
module only turns clicks and keys into those calls and refreshes the layers.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import Qt
from qtpy.QtGui import QKeySequence, QShortcut
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from marrowflow.errors import InputError
from marrowflow.report.palette import type_colours
from marrowflow.track.napari import napari_tracks
from marrowflow_review._lineage import draw_lineage
from marrowflow_review._reader import SESSION_KEY

_MAX_ROWS = 500


def _detach(viewer, attach, frame_changed, on_click):
    """A callback that unhooks a closed widget from the viewer (it outlives the widget)."""
    def detach(*_):
        viewer.layers.events.inserted.disconnect(attach)
        viewer.dims.events.current_step.disconnect(frame_changed)
        if on_click in viewer.mouse_drag_callbacks:
            viewer.mouse_drag_callbacks.remove(on_click)
    return detach


class ReviewWidget(QWidget):
    """Review of the marrowflow sample open in `napari_viewer` (opened with this plugin's reader)."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.session = None
        self._shown_frame: int | None = None
        layout = QVBoxLayout(self)
        self.header = QLabel("open a results folder (results/<sample>/) with the marrowflow reader")
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._types_tab(), "Cell types")
        self.tabs.addTab(self._labels_tab(), "Labels")
        self.tabs.addTab(self._tracks_tab(), "Tracks")
        layout.addWidget(self.tabs)
        self.save_button = QPushButton("Save review")
        self.save_button.clicked.connect(self.save)
        self.folder_button = QPushButton("Review folder...")
        self.folder_button.clicked.connect(self.choose_folder)
        self.undo_button = QPushButton("Undo type/track edit")
        self.undo_button.clicked.connect(lambda: self.session is not None and self._run(self.session.undo))
        row = QHBoxLayout()
        row.addWidget(self.undo_button)
        row.addWidget(self.save_button)
        row.addWidget(self.folder_button)
        layout.addLayout(row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.viewer.layers.events.inserted.connect(self._attach)
        self.viewer.dims.events.current_step.connect(self._frame_changed)
        self.destroyed.connect(_detach(self.viewer, self._attach, self._frame_changed, self._on_click))
        self._attach()

    # ------------------------------------------------------------------ building
    def _types_tab(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        self.selected_label = QLabel("no cell selected: click a cell (pan/zoom mode)")
        lay.addWidget(self.selected_label)
        self.legend = QGridLayout()
        lay.addLayout(self.legend)
        self.type_buttons: list[QPushButton] = []
        self.along_track = QCheckBox("whole track from this frame on")
        lay.addWidget(self.along_track)
        filters = QHBoxLayout()
        self.type_filter = QComboBox()
        self.low_score = QCheckBox("score below")
        self.score_max = QDoubleSpinBox()
        self.score_max.setRange(0.0, 1.0)
        self.score_max.setSingleStep(0.05)
        self.score_max.setValue(0.6)
        self.this_frame = QCheckBox("this frame")
        for w in (QLabel("type"), self.type_filter, self.low_score, self.score_max, self.this_frame):
            filters.addWidget(w)
        lay.addLayout(filters)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["frame", "label", "track", "type", "score", "source"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._row_selected)
        lay.addWidget(self.table)
        for w in (self.type_filter,):
            w.currentIndexChanged.connect(self.refresh_table)
        for w in (self.low_score, self.this_frame):
            w.toggled.connect(self.refresh_table)
        self.score_max.valueChanged.connect(self.refresh_table)
        self.shortcuts = []
        for k in range(1, 10):
            sc = QShortcut(QKeySequence(str(k)), page)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda k=k: self.set_type_index(k))
            self.shortcuts.append(sc)
        return page

    def _labels_tab(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        info = QLabel("Correct masks with napari's paint / fill / erase tools on the 'labels' layer. "
                      "Edited frames are marked reviewed; mark frames that needed no edit too.")
        info.setWordWrap(True)
        lay.addWidget(info)
        self.mark_button = QPushButton("Mark frame reviewed")
        self.mark_button.clicked.connect(lambda: self.mark_frame(True))
        self.unmark_button = QPushButton("Unmark frame")
        self.unmark_button.clicked.connect(lambda: self.mark_frame(False))
        self.paint_button = QPushButton("Paint labels")
        self.paint_button.clicked.connect(self.start_painting)
        row = QHBoxLayout()
        for b in (self.mark_button, self.unmark_button, self.paint_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.frames_label = QLabel("reviewed frames: none")
        self.frames_label.setWordWrap(True)
        lay.addWidget(self.frames_label)
        lay.addStretch()
        return page

    def _tracks_tab(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        self.track_label = QLabel("selected track: none")
        lay.addWidget(self.track_label)
        grid = QGridLayout()
        self.other_track = QSpinBox()
        self.other_track.setRange(0, 10 ** 9)
        self.split_button = QPushButton("Split at current frame")
        self.join_button = QPushButton("Join: other track continues selected")
        self.parent_button = QPushButton("Set other track as parent")
        self.unparent_button = QPushButton("Remove parent")
        self.delete_button = QPushButton("Delete track")
        self.split_button.clicked.connect(self.split)
        self.join_button.clicked.connect(self.join)
        self.parent_button.clicked.connect(self.set_parent)
        self.unparent_button.clicked.connect(self.remove_parent)
        self.delete_button.clicked.connect(self.delete_track)
        grid.addWidget(QLabel("other track id"), 0, 0)
        grid.addWidget(self.other_track, 0, 1)
        grid.addWidget(self.split_button, 1, 0)
        grid.addWidget(self.delete_button, 1, 1)
        grid.addWidget(self.join_button, 2, 0)
        grid.addWidget(self.parent_button, 2, 1)
        grid.addWidget(self.unparent_button, 3, 0)
        lay.addLayout(grid)
        self.figure = Figure(figsize=(4, 2.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(180)
        self.axes = self.figure.add_subplot(111)
        lay.addWidget(self.canvas)
        return page

    # ------------------------------------------------------------------ session and layers
    def _layer(self, name: str):
        for layer in self.viewer.layers:
            if layer.name == name and layer.metadata.get(SESSION_KEY) is self.session:
                return layer
        return None

    def _attach(self, event=None) -> None:
        for layer in self.viewer.layers:
            session = layer.metadata.get(SESSION_KEY)
            if session is not None and session is not self.session:
                self.session = session
                break
        else:
            return
        s = self.session
        self._header()
        self._build_legend()
        self.type_filter.blockSignals(True)
        self.type_filter.clear()
        self.type_filter.addItems(["all", *s.classes])
        self.type_filter.blockSignals(False)
        if self._on_click not in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.append(self._on_click)
        s.labels.on_edit.append(self._painted)
        self.refresh()

    def _painted(self, frames) -> None:
        """After a paint / fill / erase: the type colours, the reviewed frames and the status."""
        types = self._layer("cell types")
        if types is not None:
            types.refresh()
        self._update_frames()
        self.status.setText(self.session.status())

    def _header(self) -> None:
        s = self.session
        text = f"sample {s.sample}: {s.results_dir}\nreview saved to {s.review_dir}"
        if s.project.config_error:
            text += f"\nconfig not used (classes from the tables, default folders):\n{s.project.config_error}"
        self.header.setText(text)
        self.header.setStyleSheet("color: #ff6060;" if s.project.config_error else "")

    def _build_legend(self) -> None:
        while self.legend.count():
            item = self.legend.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        colours = type_colours(self.session.classes)
        self.type_buttons = []
        for i, name in enumerate(self.session.classes):
            swatch = QLabel("  ")
            swatch.setStyleSheet(f"background-color: {colours[name]};")
            button = QPushButton(f"{i + 1}  {name}" if i < 9 else name)
            button.clicked.connect(lambda _=False, k=i + 1: self.set_type_index(k))
            self.legend.addWidget(swatch, i // 2, 2 * (i % 2))
            self.legend.addWidget(button, i // 2, 2 * (i % 2) + 1)
            self.type_buttons.append(button)

    @property
    def frame(self) -> int:
        """The frame shown in the viewer."""
        return int(self.viewer.dims.current_step[0])

    # ------------------------------------------------------------------ selection
    def _on_click(self, viewer, event):
        """A click (no drag) in pan/zoom mode selects the cell under the mouse."""
        active = viewer.layers.selection.active
        if active is not None and getattr(active, "mode", "pan_zoom") != "pan_zoom":
            return
        moved = False
        yield
        while event.type == "mouse_move":
            moved = True
            yield
        if moved:
            return
        labels = self._layer("labels")
        if labels is None:
            return
        # in the 3D view: the first cell along the ray under the mouse
        value = labels.get_value(event.position, view_direction=event.view_direction,
                                 dims_displayed=list(event.dims_displayed), world=True)
        if value:
            self.select(self.frame, int(value))

    def select(self, frame: int, label: int) -> None:
        """Select cell (frame, label): shown in the type and track panels and the lineage plot."""
        if self.session is None:
            return
        self.session.selected = (int(frame), int(label))
        labels = self._layer("labels")
        if labels is not None:
            labels.selected_label = int(label)
        # keys 1-9 act on the panel: take the focus from the canvas
        (self.table if self.tabs.currentIndex() == 0 else self.tabs.currentWidget()).setFocus()
        self._show_selection()

    def _selected_cell(self):
        if self.session is None or self.session.selected is None:
            return None
        return self.session.cell(*self.session.selected)

    def _selected_track(self) -> int:
        cell = self._selected_cell()
        if cell is None or int(cell["track_id"]) <= 0:
            raise ValueError("select a cell that belongs to a track first (click it in pan/zoom mode)")
        return int(cell["track_id"])

    def _show_selection(self) -> None:
        s = self.session
        if s is None or s.selected is None:
            return
        frame, label = s.selected
        cell = s.cell(frame, label)
        if cell is None:
            self.selected_label.setText(f"frame {frame} label {label}: not in the cells table")
            self.track_label.setText("selected track: none")
            track = None
        else:
            score = cell.get("type_score", np.nan)
            self.selected_label.setText(f"frame {frame} label {label}: {cell['cell_type']} "
                                        f"(score {score:.2f}, {cell.get('type_source', '')}), "
                                        f"track {int(cell['track_id'])}")
            track = int(cell["track_id"])
            self.track_label.setText(f"selected track: {track} (parent {int(cell['parent_track_id'])})")
        tree = s.lineage(track or 0)
        draw_lineage(self.axes, s.tracks, tree, type_colours(s.classes), selected=track, frame=self.frame)
        self.canvas.draw_idle()

    def _row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        r = rows[0].row()
        frame, label = int(self.table.item(r, 0).text()), int(self.table.item(r, 1).text())
        self.go_to(frame, label)

    def go_to(self, frame: int, label: int) -> None:
        """Show frame `frame` centred on cell `label` (in a 3D sample shown in slices: on its
        plane), and select it."""
        dims = self.viewer.dims
        dims.set_current_step(0, frame)
        world = self.session.world_position(frame, label)
        if world is not None and len(world) == dims.ndim:
            for axis in (a for a in dims.not_displayed if a != 0):  # the cell's z plane (axis 0: frames)
                dims.set_point(axis, world[axis])
            self.viewer.scene.camera.center = tuple(world[axis] for axis in dims.displayed)
        self.select(frame, label)

    # ------------------------------------------------------------------ actions
    def _run(self, action, *args) -> bool:
        try:
            action(*args)
        except (ValueError, InputError) as err:
            self.status.setText(f"not done: {err}")
            return False
        self.refresh()
        return True

    def set_type_index(self, k: int) -> None:
        """Give the selected cell the k-th class (keys 1-9)."""
        s = self.session
        if s is None or s.selected is None or not 1 <= k <= len(s.classes):
            return
        frame, label = s.selected
        self._run(lambda: s.set_type(frame, label, s.classes[k - 1], along_track=self.along_track.isChecked()))

    def mark_frame(self, reviewed: bool = True) -> None:
        """Mark (or unmark) the current frame reviewed."""
        if self.session is not None:
            self._run(self.session.mark_reviewed, self.frame, reviewed)

    def start_painting(self) -> None:
        """Select the labels layer in paint mode with a new label."""
        labels = self._layer("labels")
        if labels is None:
            return
        self.viewer.layers.selection.active = labels
        labels.mode = "paint"

    def split(self) -> None:
        """Split the selected track at the current frame."""
        self._run(lambda: self.session.split(self._selected_track(), self.frame))

    def join(self) -> None:
        """The 'other track' continues the selected one."""
        self._run(lambda: self.session.join(self._selected_track(), self.other_track.value()))

    def set_parent(self) -> None:
        """The 'other track' becomes the selected track's mother."""
        self._run(lambda: self.session.set_parent(self._selected_track(), self.other_track.value()))

    def remove_parent(self) -> None:
        """The selected track gets no mother."""
        self._run(lambda: self.session.remove_parent(self._selected_track()))

    def delete_track(self) -> None:
        """Delete the selected track."""
        self._run(lambda: self.session.delete_track(self._selected_track()))

    def choose_folder(self, path: str | None = None) -> None:
        """Save the review into another folder (asks for it when `path` is None)."""
        if self.session is None:
            return
        if not path:
            from qtpy.QtWidgets import QFileDialog

            path = QFileDialog.getExistingDirectory(self, "Review folder", str(self.session.review_dir.parent))
        if path:
            self._run(self.session.set_review_dir, path)
            self._header()
            for name in ("labels", "cell types"):
                layer = self._layer(name)
                if layer is not None:
                    layer.refresh()

    def save(self) -> None:
        """Save the pending edits into reviews/<sample>/ (merged with what is there)."""
        if self.session is not None:
            self._run(self.session.save)

    # ------------------------------------------------------------------ refreshing
    def _frame_changed(self, event=None) -> None:
        if self.session is None or self.frame == self._shown_frame:  # only the z plane changed
            return
        self._shown_frame = self.frame
        if self.this_frame.isChecked():
            self.refresh_table()
        self._show_selection()
        self._update_frames()

    def _update_frames(self) -> None:
        frames = self.session.reviewed_frames
        here = "reviewed" if self.frame in frames else "not reviewed"
        self.frames_label.setText(f"this frame ({self.frame}): {here}; reviewed frames: "
                                  f"{', '.join(map(str, frames)) or 'none'}")

    def refresh_table(self, *args) -> None:
        """Fill the cells table from the filters (lowest type score first)."""
        s = self.session
        if s is None:
            return
        kind = self.type_filter.currentText()
        df = s.cells_table(cell_type=None if kind in ("", "all") else kind,
                           max_score=self.score_max.value() if self.low_score.isChecked() else None,
                           frame=self.frame if self.this_frame.isChecked() else None).head(_MAX_ROWS)
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(df))
        for r, row in enumerate(df.itertuples(index=False)):
            values = [row.frame, row.label, row.track_id, row.cell_type,
                      f"{row.type_score:.2f}" if row.type_score == row.type_score else "",
                      getattr(row, "type_source", "")]
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(v)))
            if s.selected == (row.frame, row.label):  # keep the selected cell's row selected
                self.table.selectRow(r)
        self.table.blockSignals(False)

    def refresh(self) -> None:
        """Redraw layers, table, selection and status after an edit."""
        s = self.session
        if s is None:
            return
        types = self._layer("cell types")
        if types is not None:
            s.type_map.invalidate()
            types.refresh()
        tracks = self._layer("tracks")
        if tracks is not None and len(s.tracks):
            data, graph = napari_tracks(s.tracks)
            tracks.graph = {}
            tracks.data = data
            tracks.graph = graph
        self.refresh_table()
        self._show_selection()
        self._update_frames()
        self.status.setText(s.status())
