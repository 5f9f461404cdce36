"""Everything file-related: lazy movie readers, label stacks (TIFF or OME-Zarr), tables, JSON, atomic writes."""

from marrowflow.io.atomic import atomic_dir, atomic_write, clean_stale_temps
from marrowflow.io.checks import EmptyFrameWarning, NoCellsWarning, check_frame, warn_if_no_cells
from marrowflow.io.labels import (
    LABEL_FILES,
    LabelStack,
    LabelStackWriter,
    frame_chunks,
    gather_label_chunks,
    label_scale,
    labels_file_name,
    open_labels,
    read_label_frame,
    write_ctc_masks,
)
from marrowflow.io.metadata import MovieMetadata, length_to_um, time_to_h
from marrowflow.io.movie import Movie, open_movie, reopen_movie
from marrowflow.io.sample_frames import SampleFrames
from marrowflow.io.tables import TABLE_SUFFIXES, read_json, read_table, table_format, write_json, write_table

__all__ = [
    "LABEL_FILES",
    "TABLE_SUFFIXES", "EmptyFrameWarning", "LabelStack", "LabelStackWriter", "Movie", "MovieMetadata", "NoCellsWarning",
    "SampleFrames",
    "atomic_dir",
    "atomic_write",
    "check_frame", "clean_stale_temps", "frame_chunks", "gather_label_chunks",
    "label_scale", "labels_file_name",
    "length_to_um", "open_labels", "open_movie", "read_json", "reopen_movie", "read_label_frame", "read_table",
    "table_format", "time_to_h", "warn_if_no_cells", "write_ctc_masks", "write_json", "write_table",
]
