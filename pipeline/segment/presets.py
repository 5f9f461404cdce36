"""Classic-segmentation presets: documented parameter sets shipped as package data
(`marrowflow/segment/presets/<name>.yaml`, found through importlib.resources) or a user's YAML file."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from marrowflow.errors import ConfigError
from marrowflow.schema import section_defaults, section_schema

PRESET_DIR: Traversable = resources.files("marrowflow.segment") / "presets"
# the keys a preset may set: those of `segmentation.classic` but the preset itself
PRESET_KEYS: tuple[str, ...] = tuple(k for k in section_schema("segmentation.classic")["properties"] if k != "preset")


def list_presets() -> list[str]:
    """Names of the shipped classic presets."""
    return sorted(p.name.removesuffix(".yaml") for p in PRESET_DIR.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict:
    """The `params` of a classic preset: a shipped name or a path to a YAML file with `params:`."""
    path: Path | Traversable = Path(name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"segmentation.classic.preset: {name!r} is neither a shipped preset "
                          f"({', '.join(list_presets())}) nor an existing YAML file ({path}); "
                          "fix the name or the path")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    params = doc.get("params")
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping under the key 'params', found {params!r}")
    unknown = sorted(set(params) - set(PRESET_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} under 'params'; allowed: {sorted(PRESET_KEYS)}")
    return params


AUTO = "auto"  # the preset whose values are estimated from the movie (marrowflow.segment.auto)


def classic_params(classic: Mapping | None) -> dict:
    """Preset values overridden by the explicit keys of `segmentation.classic` (without a
    `preset` key: the schema's default preset). With `preset: auto` the explicit keys and
    `auto_keep` (their names: the values the movie's estimates will not replace)."""
    classic = dict(classic or {})
    preset = classic.pop("preset", section_defaults("segmentation.classic")["preset"])
    if preset == AUTO:
        return {**classic, "auto_keep": tuple(sorted(k for k in classic if k != "auto_keep"))}
    base = load_preset(preset) if preset else {}
    return {**base, **classic}


def expand_preset(settings: Mapping) -> dict:
    """The `segmentation` section with the classic preset replaced by its full parameter set.

    Segmenting with the result gives the same labels; a workflow rule that takes it as a
    parameter reruns when a preset file changes (Snakemake compares parameters, not file dates).
    `preset: auto` stays as the explicit keys and `auto_keep` (estimated at segment time).
    """
    out = dict(settings)
    if out.get("backend", "classic") == "classic":
        out["classic"] = {**classic_params(out.get("classic")), "preset": None}
    return out
