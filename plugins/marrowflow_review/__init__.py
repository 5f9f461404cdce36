"""marrowflow review: a napari plugin to open a sample's results, correct labels, cell types and
tracks, and save the corrections to reviews/<sample>/ (see marrowflow.review for the files)."""

__version__ = "0.1.0"
