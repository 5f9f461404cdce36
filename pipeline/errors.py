"""Errors a user can act on: each names the file, what was expected, what was found and the fix."""


class MarrowflowError(Exception):
    """Base class of every error marrowflow raises on purpose."""


class InputError(MarrowflowError):
    """An input file (movie, table, ground truth, review) cannot be used as it is."""


class ConfigError(MarrowflowError):
    """The configuration or the sample sheet is invalid."""
