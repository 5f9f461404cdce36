"""Config validation and sample sheet checks: every error names the key or file and the fix."""

import copy

import pytest
import yaml

from marrowflow.errors import ConfigError
from marrowflow.schema import load_schema
from marrowflow.workflow.config import load_config, refuse_yte, segmentation_channel, validate_config
from marrowflow.workflow.samples import read_sample_sheet, sample_table


@pytest.fixture()
def base_config(repo_root):
    with open(repo_root / "config.yaml") as fh:
        return yaml.safe_load(fh)


def test_shipped_config_is_valid_and_gets_defaults(repo_root):
    config = load_config(repo_root / "config.yaml")
    assert config["results"] == "results"
    assert config["reviews"] == "reviews"
    assert config["segmentation"]["backend"] == "classic"
    assert config["image"]["pixel_size_um"] is None


def _restated_defaults(config: dict, schema: dict, where: str = "") -> list[str]:
    """Keys of `config` whose value is the schema's default for that key (recursively)."""
    found = []
    for key, value in config.items():
        props = schema.get("properties", {})
        sub = props.get(key, schema.get("additionalProperties") if key not in props else None)
        if not isinstance(sub, dict):
            continue
        if "default" in sub and sub["default"] == value:
            found.append(f"{where}{key}: {value!r}")
        elif isinstance(value, dict):
            found += _restated_defaults(value, sub, f"{where}{key}.")
    return found


def test_shipped_config_restates_no_default(base_config):
    """config.yaml holds the project's choices only: a copied default would be a second place
    where that default is written (and would silently stop following the schema)."""
    assert _restated_defaults(base_config, load_schema()) == []
    assert _restated_defaults({"tracking": {"gap_closing_frames": 2, "divisions": False}},
                              load_schema()) == ["tracking.gap_closing_frames: 2"]


def test_validation_does_not_modify_its_input(base_config):
    before = copy.deepcopy(base_config)
    validate_config(base_config)
    assert base_config == before


def test_unknown_key_is_named_with_allowed_keys(base_config):
    base_config["segmantation"] = {"backend": "classic"}
    with pytest.raises(ConfigError) as err:
        validate_config(base_config)
    assert "'segmantation'" in str(err.value)
    assert "segmentation" in str(err.value).split("allowed keys here:")[1]


def test_bad_enum_value_lists_allowed_values(base_config):
    base_config["segmentation"]["backend"] = "stardist"
    with pytest.raises(ConfigError, match=r"segmentation.backend.*'stardist'.*'classic', 'cellpose'"):
        validate_config(base_config)


def test_wrong_type_and_range_are_reported(base_config):
    base_config["image"] = {"pixel_size_um": -1}
    with pytest.raises(ConfigError, match=r"image.pixel_size_um"):
        validate_config(base_config)


def test_missing_required_key(base_config):
    del base_config["channels"]
    with pytest.raises(ConfigError, match="'channels' is a required property"):
        validate_config(base_config)


def test_duplicate_channel_names(base_config):
    base_config["channels"].append({"name": "CD34"})
    with pytest.raises(ConfigError, match="CD34"):
        validate_config(base_config)


def test_segmentation_channel_must_exist(base_config):
    base_config["segmentation"]["channel"] = "DAPI"
    with pytest.raises(ConfigError, match="DAPI"):
        validate_config(base_config)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("samples: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def _sheet(tmp_path, text):
    path = tmp_path / "samples.tsv"
    path.write_text(text)
    return path


def test_sample_sheet_defaults(tmp_path, base_config):
    config = validate_config(base_config)
    (tmp_path / "movie.tif").write_bytes(b"")
    sheet = read_sample_sheet(_sheet(tmp_path, "sample\tpath\nA\tmovie.tif\n"), config, base_dir=tmp_path)
    assert list(sheet.index) == ["A"]
    assert sheet.loc["A", "condition"] == "none"
    assert sheet.loc["A", "channels"] == "nuclei,CD34,CD235a,MPO,CD41"


def test_sample_sheet_errors_name_the_line_and_path(tmp_path, base_config):
    config = validate_config(base_config)
    text = "sample\tpath\tground_truth\nA\tmissing.tif\t\nA\tgen.tif\t\nb c\tgen.tif\tno_gt\n"
    with pytest.raises(ConfigError) as err:
        read_sample_sheet(_sheet(tmp_path, text), config, base_dir=tmp_path, generated={"gen.tif"})
    msg = str(err.value)
    assert "duplicate sample name(s) ['A']" in msg
    assert "line 2 (sample 'A'): path 'missing.tif' does not exist" in msg
    assert "line 4 (sample 'b c')" in msg and "letters, digits" in msg


def test_sample_sheet_missing_columns(tmp_path, base_config):
    config = validate_config(base_config)
    with pytest.raises(ConfigError, match=r"lacks column.*'sample', 'path'.*tab-separated"):
        read_sample_sheet(_sheet(tmp_path, "sample,path\nA,x\n"), config, base_dir=tmp_path)


def test_segmentation_channel_choice(base_config):
    config = validate_config(base_config)
    names = ["nuclei", "CD34", "CD235a", "MPO", "CD41"]
    assert segmentation_channel(config, names) == 0
    assert segmentation_channel(config, ["only"]) == 0
    config["segmentation"]["channel"] = "CD34"
    assert segmentation_channel(config, names) == 1
    with pytest.raises(ConfigError, match="CD34"):
        segmentation_channel(config, ["a", "b"])


def test_discovered_movies_join_the_sheet(tmp_path, base_config):
    (tmp_path / "movies" / "day 1").mkdir(parents=True)
    for name in ["a.ome.tif", "b.tif"]:
        (tmp_path / "movies" / "day 1" / name).write_bytes(b"")
    (tmp_path / "x.tif").write_bytes(b"")
    _sheet(tmp_path, "sample\tpath\tcondition\nsheet_one\tx.tif\tctl\n")
    base_config.update(samples="samples.tsv", discover={"folder": "movies", "condition": "epo"})
    table = sample_table(validate_config(base_config), base_dir=tmp_path)
    assert list(table.index) == ["sheet_one", "a", "b"]
    assert table.loc["a", "condition"] == "epo" and table.loc["sheet_one", "condition"] == "ctl"
    assert table.loc["b", "channels"] == "nuclei,CD34,CD235a,MPO,CD41"


def test_discovered_name_clashing_with_the_sheet_is_an_error(tmp_path, base_config):
    (tmp_path / "movies").mkdir()
    (tmp_path / "movies" / "x.tif").write_bytes(b"")
    (tmp_path / "x.tif").write_bytes(b"")
    _sheet(tmp_path, "sample\tpath\nx\tx.tif\n")
    base_config.update(samples="samples.tsv", discover={"folder": "movies"})
    with pytest.raises(ConfigError, match=r"\['x'\] come from both"):
        sample_table(validate_config(base_config), base_dir=tmp_path)


def test_no_samples_at_all_is_an_error(base_config):
    base_config["samples"] = None
    with pytest.raises(ConfigError, match="names no samples"):
        sample_table(validate_config(base_config))


def test_gate_naming_an_unknown_channel_is_a_config_error(base_config):
    base_config["classification"]["classes"][0]["when"] = {"CD253a": "pos"}
    with pytest.raises(ConfigError) as err:
        validate_config(base_config)
    msg = str(err.value)
    assert "classification.classes[0].when" in msg and "'CD253a'" in msg
    assert "nuclei, CD34, CD235a, MPO, CD41" in msg and "area_um2" in msg and "sample sheet" in msg


@pytest.mark.parametrize("feature", ["CD34", "area_um2", "eccentricity", "solidity", "mean_MPO", "CD34/CD41",
                                     "volume_um3"])
def test_gates_may_name_channels_measured_columns_and_ratios(base_config, feature):
    base_config["classification"]["classes"].append({"name": "extra", "when": {feature: "pos"}})
    validate_config(base_config)


def test_ratio_with_an_unknown_side_is_named(base_config):
    base_config["classification"]["classes"].append({"name": "extra", "when": {"CD34/CD45": "pos"}})
    with pytest.raises(ConfigError, match=r"classes\[4\]\.when \(extra\) names 'CD45'"):
        validate_config(base_config)


def test_nested_command_line_strings_take_the_schema_types(base_config):
    """Snakemake passes `--config 'tracking={gap_closing_frames: 3}'` as {'gap_closing_frames': '3'}."""
    base_config["tracking"] = {"gap_closing_frames": "3", "max_distance_um": "7.5", "divisions": "false",
                               "max_speed_um_per_h": "null", "gap_cost_per_frame": "1e-3",
                               "intensity_channel": "null"}
    base_config["segmentation"]["cellpose"] = {"gpu": "true", "channels": ["0", "0"]}
    base_config["classification"]["thresholds"] = {"CD34": "450"}
    base_config["classification"]["classes"].append({"name": "big", "when": {"area_um2": ["20", "null"]}})
    config = validate_config(base_config)
    assert config["tracking"]["gap_closing_frames"] == 3 and config["tracking"]["max_distance_um"] == 7.5
    assert config["tracking"]["divisions"] is False and config["tracking"]["max_speed_um_per_h"] is None
    assert config["tracking"]["gap_cost_per_frame"] == 0.001
    assert config["tracking"]["intensity_channel"] == "null"  # a string is allowed here: left as written
    assert config["segmentation"]["cellpose"]["gpu"] is True
    assert config["segmentation"]["cellpose"]["channels"] == [0, 0]
    assert config["classification"]["thresholds"] == {"CD34": 450}
    assert config["classification"]["classes"][-1]["when"] == {"area_um2": [20, None]}
    assert config["classification"]["classes"][0]["when"] == {"CD235a": "pos"}


@pytest.mark.parametrize("text", ["3.5", "three", "[3]", ".inf"])
def test_strings_that_do_not_read_as_the_type_are_still_errors(base_config, text):
    base_config["tracking"] = {"gap_closing_frames": text}
    with pytest.raises(ConfigError, match="tracking.gap_closing_frames"):
        validate_config(base_config)


@pytest.mark.parametrize(("reviews", "results", "relation"), [
    ("results", "results", "is"), ("results/reviews", "results", "is inside"), ("out", "out/run1", "contains"),
    ("./out/", "out", "is")])
def test_reviews_must_be_apart_from_results(base_config, reviews, results, relation):
    base_config.update(reviews=reviews, results=results)
    with pytest.raises(ConfigError) as err:
        validate_config(base_config)
    assert f"reviews ({reviews!r}) {relation} the results folder results ({results!r})" in str(err.value)


def test_reviews_beside_results_is_fine(base_config):
    base_config.update(reviews="out/reviews", results="out/results")
    validate_config(base_config)


def test_config_enabling_yte_is_refused_unless_allowed(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text("__use_yte__: true\nsamples: ?open('marker', 'w').write('x')\n")
    monkeypatch.delenv("MARROWFLOW_ALLOW_YTE", raising=False)
    with pytest.raises(ConfigError, match=rf"{path} enables YTE templating.*MARROWFLOW_ALLOW_YTE=1"):
        refuse_yte(path)
    refuse_yte(path, allowed=True)
    monkeypatch.setenv("MARROWFLOW_ALLOW_YTE", "1")
    refuse_yte(path)
    monkeypatch.delenv("MARROWFLOW_ALLOW_YTE")
    path.write_text("__use_yte__: false\nsamples: samples.tsv\n")
    refuse_yte(path)
    path.write_text("samples: !!python/name:os.system\n")
    with pytest.raises(ConfigError, match="not plain YAML"):
        refuse_yte(path)
    refuse_yte(tmp_path / "missing.yaml")  # left to Snakemake


def test_sample_names_that_are_paths_or_reserved_are_refused(tmp_path, base_config):
    config = validate_config(base_config)
    (tmp_path / "m.tif").touch()
    text = "sample\tpath\nok\tm.tif\n..\tm.tif\n.\tm.tif\n.hidden\tm.tif\nsummary\tm.tif\nSummary\tm.tif\n"
    with pytest.raises(ConfigError) as err:
        read_sample_sheet(_sheet(tmp_path, text), config, base_dir=tmp_path)
    msg = str(err.value)
    for line, name in [(3, ".."), (4, "."), (5, ".hidden")]:
        assert f"line {line} (sample {name!r}): a sample name may not start with '.'" in msg
    for line, name in [(6, "summary"), (7, "Summary")]:
        assert f"line {line} (sample {name!r}): {name!r} is the name of a results folder" in msg
    assert "sample 'ok'" not in msg
