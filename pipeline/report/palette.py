"""The one cell-type palette of marrowflow: the report's figures and the napari plugin colour each
type the same way. Plain hex strings, no matplotlib import (the plugin's reader uses it too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from marrowflow.contract import UNKNOWN

__all__ = ["TYPE_PALETTE", "UNKNOWN_COLOUR", "type_colours", "type_order"]

TYPE_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                "#17becf")
"""Colours of the named types in order (matplotlib's tab10 without its grey, kept for `unknown`)."""

UNKNOWN_COLOUR = "#999999"


def type_order(found: Iterable[str], classes: Sequence[str] | None = None) -> list[str]:
    """The order in which types are coloured and listed: the configured `classes`, then any other
    type `found` (sorted), `unknown` last (always with `classes`, else only when found)."""
    found = {str(t) for t in found}
    named = [str(c) for c in dict.fromkeys(classes or []) if c != UNKNOWN]
    extra = sorted(found - set(named) - {UNKNOWN})
    return named + extra + ([UNKNOWN] if classes or UNKNOWN in found else [])


def type_colours(types: Sequence[str]) -> dict[str, str]:
    """A colour ("#rrggbb") per type: the palette in the order given (cycling after nine named
    types), `unknown` always grey. The same order always gives the same colours."""
    named = [t for t in dict.fromkeys(types) if t != UNKNOWN]
    colours = {t: TYPE_PALETTE[i % len(TYPE_PALETTE)] for i, t in enumerate(named)}
    colours[UNKNOWN] = UNKNOWN_COLOUR
    return colours
