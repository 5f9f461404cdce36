"""The config's `evaluation` section as a typed parameter object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from marrowflow.errors import ConfigError
from marrowflow.schema import config_section, schema_fields

__all__ = ["EvaluationParams"]

_schema = schema_fields("evaluation")


@dataclass(frozen=True)
class EvaluationParams:
    """The `evaluation` section (defaults from the schema, which documents each key)."""

    SECTION: ClassVar[str] = "evaluation"

    division_frame_buffer: int = _schema("division_frame_buffer")

    def __post_init__(self) -> None:
        if int(self.division_frame_buffer) < 0:
            raise ConfigError(f"evaluation.division_frame_buffer is {self.division_frame_buffer}; it must be >= 0")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> EvaluationParams:
        """From the `evaluation` section; unknown keys raise ConfigError."""
        return config_section(cls, section)
