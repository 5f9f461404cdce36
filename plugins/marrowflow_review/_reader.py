"""npe2 reader: a results folder (or its metadata.json / provenance.json) -> napari layers."""

from __future__ import annotations

import numpy as np

from marrowflow.report.palette import type_colours
from marrowflow.track.napari import napari_tracks
from marrowflow_review._session import ReviewSession, channel_colormap, find_results_dir

SESSION_KEY = "marrowflow_session"


def napari_get_reader(path):
    """Return `read_results` when `path` is a marrowflow results folder, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    return read_results if find_results_dir(path) is not None else None


def type_colormap(classes: list[str]):
    """A step colormap for the cell types layer: value 0 transparent, value k the k-th class's
    colour in the report's palette (shown with contrast limits (-0.5, n + 0.5) so each value sits
    mid-step)."""
    from napari.utils.colormaps import Colormap
    from napari.utils.colormaps.standardize_color import transform_color

    colours = type_colours(classes)
    rgba = np.vstack([[0, 0, 0, 0], *[transform_color(colours[c])[0] for c in classes]])
    return Colormap(colors=rgba, controls=np.linspace(0, 1, len(rgba) + 1), interpolation="zero",
                    name="marrowflow cell types")


def _contrast(frame: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(frame[:: max(1, frame.shape[0] // 256)], [0.5, 99.8])
    return (float(lo), float(hi if hi > lo else lo + 1))


def session_layers(session: ReviewSession) -> list[tuple]:
    """Layer data tuples: channels, labels, cell types, tracks (each carries the session)."""
    meta = {SESSION_KEY: session}
    md, scale = session.metadata, session.scale
    layers, n_markers = [], 0
    for c, stack in enumerate(session.channel_stacks()):
        name = md.channel_names[c] if c < len(md.channel_names) else f"channel {c}"
        colormap = channel_colormap(name, n_markers)
        n_markers += colormap != "gray"
        layers.append((stack, {"name": name, "colormap": colormap, "blending": "additive",
                               "scale": scale, "contrast_limits": _contrast(stack.frame(0)),
                               "metadata": meta}, "image"))
    layers.append((session.labels, {"name": "labels", "scale": scale, "metadata": meta, "opacity": 0.4}, "labels"))
    layers.append((session.type_map, {"name": "cell types", "scale": scale, "metadata": meta, "opacity": 0.6,
                                      "colormap": type_colormap(session.classes),
                                      "contrast_limits": (-0.5, len(session.classes) + 0.5),
                                      "interpolation2d": "nearest", "interpolation3d": "nearest",
                                      "blending": "translucent"}, "image"))
    if session.has_tracks and len(session.tracks):
        data, graph = napari_tracks(session.tracks)
        layers.append((data, {"name": "tracks", "graph": graph, "scale": scale, "metadata": meta,
                              "tail_length": 10}, "tracks"))
    return layers


def read_results(path) -> list[tuple]:
    """Open a sample's results (and its review, if any) as napari layers, lazily per frame; an
    invalid project config.yaml is shown as a warning (the sample opens without it)."""
    path = path[0] if isinstance(path, list) else path
    session = ReviewSession(path)
    if session.project.config_error:
        from napari.utils.notifications import show_warning

        show_warning(f"marrowflow review: {session.project.config_error}\n"
                     "The sample opens without it: classes from the tables, default review folder.")
    return session_layers(session)
