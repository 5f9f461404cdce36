"""SCIMAP-style gating workflows on hand-made rescaled tables with known answers."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.classify.gates import (
    ClassRule,
    Condition,
    apply_workflow,
    parse_condition,
    read_scimap_workflow,
    rescale_at_threshold,
    rules_from_config,
)
from marrowflow.errors import ConfigError, InputError


def _apply(values: dict, rules, **kw):
    rescaled = pd.DataFrame({f"{k}@auto": v for k, v in values.items()})
    raw = pd.DataFrame(values)
    labels, support = apply_workflow(rescaled, raw, rules, **kw)
    return list(labels), support


def test_parse_condition_forms():
    assert parse_condition("CD34", "pos", where="x") == Condition("CD34", "pos")
    assert parse_condition("CD34", "AnyPos", where="x").kind == "anypos"
    assert parse_condition("CD34", "> 0.3", where="x") == Condition("CD34", "pos", threshold=0.3)
    assert parse_condition("CD34", "< auto", where="x") == Condition("CD34", "neg")
    assert parse_condition("area_um2", [20, None], where="x") == Condition("area_um2", "range", low=20.0)
    for bad in ("positive", 0.3, [3, 1], [1, 2, 3]):
        with pytest.raises(ConfigError):
            parse_condition("CD34", bad, where="classes[0]")


def test_rules_from_config_checks_parent_and_names():
    rules = rules_from_config([{"name": "A", "when": {"X": "pos"}},
                               {"name": "A1", "parent": "A", "when": {"Y": "pos"}}])
    assert [(r.name, r.parent) for r in rules] == [("A", "all"), ("A1", "A")]
    with pytest.raises(ConfigError, match="parent"):
        rules_from_config([{"name": "A1", "parent": "nope", "when": {"Y": "pos"}}])
    with pytest.raises(ConfigError, match="unknown"):
        rules_from_config([{"name": "unknown", "when": {"Y": "pos"}}])
    with pytest.raises(ConfigError, match="when"):
        rules_from_config([{"name": "A"}])


def test_rescale_at_threshold():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.allclose(rescale_at_threshold(x, 0.5, 0.0, 1.0), x)
    assert np.allclose(rescale_at_threshold(np.array([0, 10, 20, 100]), 20, 0, 100), [0, 0.25, 0.5, 1])


def test_hierarchy_highest_score_wins_and_rest():
    rules = [ClassRule("A", "all", (Condition("X", "pos"),)),
             ClassRule("B", "all", (Condition("Y", "pos"),))]
    labels, support = _apply({"X": [0.9, 0.6, 0.1, 0.7], "Y": [0.6, 0.8, 0.2, 0.7]}, rules)
    # both positive: the higher score wins; tie: the first class listed; none: unknown
    assert labels == ["A", "B", "unknown", "A"]
    assert support.between(0, 1).all()
    assert support[0] == pytest.approx(0.8)  # 2 * 0.9 - 1


def test_hierarchy_subclasses_neg_anypos_allpos():
    rules = [ClassRule("Immune", "all", (Condition("CD45", "pos"),)),
             ClassRule("Other", "all", (Condition("CD45", "neg"),)),
             ClassRule("T", "Immune", (Condition("CD3", "pos"), Condition("CD30", "neg"))),
             ClassRule("Myeloid", "Immune", (Condition("CD68", "anypos"), Condition("CD163", "anypos"))),
             ClassRule("DP", "T", (Condition("CD4", "allpos"), Condition("CD8", "allpos"))),
             ClassRule("CD4T", "T", (Condition("CD4", "pos"),))]
    values = {  # cells: T DP, T CD4 only, myeloid via CD163, immune only, non-immune
        "CD45": [0.9, 0.9, 0.8, 0.7, 0.1], "CD3": [0.9, 0.8, 0.1, 0.2, 0.9],
        "CD30": [0.1, 0.2, 0.1, 0.9, 0.1], "CD68": [0.1, 0.1, 0.2, 0.1, 0.1],
        "CD163": [0.1, 0.1, 0.9, 0.2, 0.1], "CD4": [0.8, 0.9, 0.1, 0.1, 0.1],
        "CD8": [0.7, 0.1, 0.1, 0.1, 0.1]}
    labels, _ = _apply(values, rules)
    # cell 0: CD4 pos (0.8) vs allpos CD4&CD8 (max 0.8 + 0.01): allpos's edge wins
    assert labels == ["DP", "CD4T", "Myeloid", "Immune", "Other"]
    # SCIMAP averages pos and neg: CD3 0.2 with CD30 clearly negative (0.1) scores (0.2 + 0.9) / 2
    values["CD30"][3] = 0.1
    assert _apply(values, rules)[0][3] == "T"


def test_likely_prefix_and_rest_group():
    rules = [ClassRule("T", "all", (Condition("CD3", "pos"),)),
             ClassRule("Treg", "T", (Condition("CD4", "pos"), Condition("FOXP3", "pos"))),
             ClassRule("B", "T", (Condition("CD20", "pos"),)),
             ClassRule("Late", "T-rest", (Condition("KI67", "pos"),))]
    values = {"CD3": [0.9, 0.9, 0.9, 0.9], "CD4": [0.9, 0.9, 0.1, 0.1], "FOXP3": [0.9, 0.4, 0.1, 0.1],
              "CD20": [0.1, 0.1, 0.1, 0.1], "KI67": [0.1, 0.1, 0.8, 0.1]}
    labels, _ = _apply(values, rules, likely=True)
    assert labels == ["Treg", "likely-Treg", "Late", "T"]
    labels, _ = _apply(values, rules, likely=False)
    assert labels[1] == "Treg"


def test_ordered_first_match_wins():
    rules = [ClassRule("A", "all", (Condition("X", "pos"),)),
             ClassRule("B", "all", (Condition("Y", "pos"),))]
    labels, _ = _apply({"X": [0.6, 0.1, 0.2], "Y": [0.9, 0.9, 0.3]}, rules, mode="ordered")
    assert labels == ["A", "B", "unknown"]
    with pytest.raises(ConfigError):
        _apply({"X": [0.6], "Y": [0.9]}, rules, mode="random")


def test_read_scimap_workflow(tmp_path):
    path = tmp_path / "wf.csv"
    path.write_text("\ufeff,,CD45,CD3\nall,Immune,pos,\nImmune,T,,pos\nall,Other,neg,\n", encoding="utf-8")
    rules = read_scimap_workflow(path)
    assert [(r.name, r.parent, r.conditions[0].kind) for r in rules] == [
        ("Immune", "all", "pos"), ("T", "Immune", "pos"), ("Other", "all", "neg")]
    path.write_text(",,CD45\nall,Immune,positive\n")
    with pytest.raises(InputError, match="line 2"):
        read_scimap_workflow(path)
