"""`UncertaintyParams`: the config's `uncertainty` section (defaults from the schema)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from marrowflow.schema import config_section, schema_fields

_schema = schema_fields("uncertainty")


@dataclass(frozen=True)
class UncertaintyParams:
    """Confidence level, resamples and seed of every interval and test; cells per type an audit
    proposes (the schema documents each key)."""

    SECTION: ClassVar[str] = "uncertainty"

    confidence: float = _schema("confidence")
    n_resamples: int = _schema("n_resamples")
    seed: int = _schema("seed")
    audit_cells_per_type: int = _schema("audit_cells_per_type")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> UncertaintyParams:
        """From the `uncertainty` section; unknown keys raise ConfigError."""
        return config_section(cls, section)
