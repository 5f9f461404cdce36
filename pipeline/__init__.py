"""marrowflow: time-lapse microscopy of bone-marrow organoids to cell types, lineages and counts."""

__version__ = "0.1.0"
