"""Segmentation: one frame of one channel -> uint32 labels (classic scikit-image or cellpose),
a whole movie to a label stack, presets, training cellpose from review, and SEG/F1 against truth."""

from marrowflow.segment.segmenter import make_segmenter, segment_frame
from marrowflow.segment.presets import list_presets, load_preset, classic_params, expand_preset
from marrowflow.segment.classic import segment_classic
from marrowflow.segment.cellpose import CellposeSegmenter
from marrowflow.segment.movie import segment_movie, physical_pixel_size
from marrowflow.segment.metrics import seg_score, seg_sums, match_f1, restrict_to_annotated

__all__ = [
    "CellposeSegmenter", "classic_params", "expand_preset", "list_presets", "load_preset",
    "make_segmenter", "match_f1", "physical_pixel_size", "restrict_to_annotated", "seg_score",
    "seg_sums", "segment_classic", "segment_frame", "segment_movie",
]
