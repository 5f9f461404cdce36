"""Exports in the field's formats: tracks as geff (`tracks.geff`), cells as AnnData (`cells.h5ad`)."""

from marrowflow.export.cells_anndata import cells_anndata, write_cells_h5ad
from marrowflow.export.geff_tracks import GEFF_SEG_PROP, track_edges, tracks_graph, write_tracks_geff

__all__ = ["GEFF_SEG_PROP", "cells_anndata", "track_edges", "tracks_graph", "write_cells_h5ad", "write_tracks_geff"]
