"""Segmentation: one frame of one channel -> uint32 labels (classic scikit-image or cellpose),
a whole movie to a label stack (warning when its objects look like noise), presets, training
cellpose from review, and SEG/F1 against truth."""

from marrowflow.segment.cellpose import CellposeParams, CellposeSegmenter
from marrowflow.segment.classic import ClassicParams, segment_classic
from marrowflow.segment.metrics import match_f1, restrict_to_annotated, seg_score, seg_sums
from marrowflow.segment.movie import physical_pixel_size, segment_movie
from marrowflow.segment.plausibility import ImplausibleSegmentationWarning, frame_contrast
from marrowflow.segment.presets import classic_params, expand_preset, list_presets, load_preset
from marrowflow.segment.segmenter import SegmentationParams, make_segmenter, segment_frame

__all__ = [
    "CellposeParams", "CellposeSegmenter", "ClassicParams", "ImplausibleSegmentationWarning", "SegmentationParams",
    "classic_params", "expand_preset", "frame_contrast", "list_presets", "load_preset", "make_segmenter", "match_f1",
    "physical_pixel_size", "restrict_to_annotated", "seg_score", "seg_sums", "segment_classic", "segment_frame",
    "segment_movie",
]
