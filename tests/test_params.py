"""The parameter objects of the steps take every default from the schema (the one place a default
is written), and a rule script's build from a validated config equals the library's defaults."""

import dataclasses
import inspect

import pytest

from marrowflow.classify.cell_types import ClassificationParams
from marrowflow.classify.model import ClassifierTrainingParams
from marrowflow.classify.thresholds import METHODS, auto_threshold, auto_threshold_info, compute_thresholds
from marrowflow.classify.track_vote import TrackVoteParams
from marrowflow.evaluate.params import EvaluationParams
from marrowflow.lineage.events import EventParams
from marrowflow.measure.cells import MeasureParams
from marrowflow.schema import section_defaults, section_schema
from marrowflow.segment.cellpose import CellposeParams
from marrowflow.segment.classic import _THRESHOLDS, ClassicParams
from marrowflow.segment.presets import expand_preset
from marrowflow.segment.segmenter import SegmentationParams
from marrowflow.segment.train import SegmentationTrainingParams
from marrowflow.stats.params import UncertaintyParams
from marrowflow.synthetic import OrganoidParams
from marrowflow.track.linking import TrackingParams
from marrowflow.workflow.config import validate_config

PARAMS = [SegmentationParams, ClassicParams, CellposeParams, MeasureParams, ClassificationParams, TrackVoteParams,
          TrackingParams, SegmentationTrainingParams, ClassifierTrainingParams, OrganoidParams, EvaluationParams,
          EventParams, UncertaintyParams]
# fields that are no config key: converted from keys in physical units (CONFIG_KEYS) or the movie's
# metadata, or settings only the library changes
NOT_CONFIG_KEYS = {
    TrackingParams: {"division_max_distance_px", "intensity_column", "z_scale"},
    ClassicParams: set(ClassicParams.INTERNAL),  # auto_keep: which keys `preset: auto` keeps
    SegmentationTrainingParams: {"learning_rate", "weight_decay", "batch_size", "bsize", "diam_mean",
                                 "min_train_masks", "rescale", "nimg_per_epoch"},
}


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("cls", PARAMS, ids=lambda c: c.__name__)
def test_every_schema_key_is_a_field_with_the_schema_default(cls):
    props = section_schema(cls.SECTION)["properties"]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    converted = set(getattr(cls, "CONFIG_KEYS", ()))  # keys from_config converts
    assert set(props) - converted <= set(fields), "schema keys without a field (or a conversion)"
    assert set(fields) - set(props) <= NOT_CONFIG_KEYS.get(cls, set()), "fields that no schema key documents"
    for key, spec in props.items():
        if key in converted or "default" not in spec:
            continue
        default = _default(fields[key])
        if dataclasses.is_dataclass(default):  # a nested section: its own object, from its own defaults
            assert default == type(default).from_config(spec["default"]), key
        else:
            assert default == spec["default"], f"{cls.__name__}.{key}: {default!r}, schema {spec['default']!r}"


def test_classic_keys_have_their_built_in_value_in_code_only():
    """A preset or the built-in values fill the classic keys, so the schema gives them no default."""
    props = section_schema("segmentation.classic")["properties"]
    assert [k for k, v in props.items() if "default" in v] == ["preset"]
    fields = {f.name for f in dataclasses.fields(ClassicParams)}
    assert fields - set(ClassicParams.INTERNAL) == set(props) - {"preset"}


def test_documented_choices_are_the_implemented_ones():
    assert set(section_schema("segmentation.classic")["properties"]["threshold_method"]["enum"]) == {*_THRESHOLDS,
                                                                                                     "noise"}
    assert tuple(section_schema("classification")["properties"]["threshold_method"]["enum"]) == METHODS


def test_threshold_keyword_defaults_are_the_classification_defaults():
    params = ClassificationParams()
    names = {"method": "threshold_method", "log": "threshold_log", "min_cells": "min_cells_for_threshold",
             "min_separation": "min_separation", "min_fold_change": "min_fold_change"}
    for fn in (auto_threshold, auto_threshold_info, compute_thresholds):
        for arg, p in inspect.signature(fn).parameters.items():
            if arg in names:
                assert p.default == getattr(params, names[arg]), f"{fn.__name__}({arg}=...)"


@pytest.fixture(scope="module")
def validated():
    """A config that leaves every section out (one demo organoid without keys), validated."""
    return validate_config({"channels": [{"name": "nuclei", "role": "nuclear"}], "demo": {"plain": {}}})


def test_rule_script_builds_from_an_empty_config_give_the_defaults(validated):
    assert SegmentationParams.from_config(validated["segmentation"]) == SegmentationParams()
    assert SegmentationParams.from_config(expand_preset(validated["segmentation"])) == SegmentationParams()
    assert MeasureParams.from_config(validated["measure"]) == MeasureParams()
    assert ClassificationParams.from_config(validated["classification"]) == ClassificationParams()
    assert TrackVoteParams.from_config(validated["classification"]["track_vote"]) == TrackVoteParams()
    assert SegmentationTrainingParams.from_config(validated["training"]["segmentation"]) == \
        SegmentationTrainingParams()
    assert ClassifierTrainingParams.from_config(validated["training"]["classifier"]) == ClassifierTrainingParams()
    assert OrganoidParams.from_config(validated["demo"]["plain"]) == OrganoidParams()
    step_um = section_defaults("tracking")["max_distance_um"]
    assert TrackingParams.from_config(validated["tracking"], pixel_size_um=0.5) == \
        TrackingParams(max_distance_px=step_um / 0.5, division_max_distance_px=1.5 * step_um / 0.5)


@pytest.mark.parametrize("cls", [c for c in PARAMS if c not in (TrackingParams, ClassicParams)],
                         ids=lambda c: c.__name__)
def test_no_section_gives_the_defaults(cls):
    """A library call without parameters behaves like a workflow run that leaves the section out."""
    assert cls.from_config(None) == cls.from_config({}) == cls()


def test_no_classic_section_gives_the_default_preset():
    preset = section_defaults("segmentation.classic")["preset"]
    assert ClassicParams.from_config(None) == ClassicParams.from_config({"preset": preset}) != ClassicParams()
    assert ClassicParams.from_config({"preset": None}) == ClassicParams()
