"""Config validation and sample sheet checks: every error names the key or file and the fix."""

import copy

import pytest
import yaml

from marrowflow.errors import ConfigError
from marrowflow.schema import load_schema
from marrowflow.workflow.config import load_config, segmentation_channel, validate_config
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
