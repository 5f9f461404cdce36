"""The configuration's JSON schema (package data `marrowflow/config.schema.yaml`) and the
defaults it declares.

The schema is the one place a default is written: the workflow fills a config in from it, and
each step's parameter object takes its field defaults from it (`section_defaults`), so a library
call without a config behaves like a workflow run that leaves the key out.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

SCHEMA_FILE = "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    text = (resources.files("marrowflow") / SCHEMA_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_schema() -> dict:
    """The configuration's JSON schema (a fresh copy; safe to modify)."""
    return copy.deepcopy(_schema())


def section_schema(path: str) -> dict:
    """The schema of the config section at the dotted `path` (e.g. "classification.track_vote");
    `*` stands for the value schema of a free-form mapping (e.g. "demo.*")."""
    node = _schema()
    for part in path.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


def section_defaults(path: str) -> dict[str, Any]:
    """{key: default} of every key of the section at `path` that the schema gives a default."""
    props = section_schema(path).get("properties", {})
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}
