"""Software environments agree: pyproject.toml, environment.yml and workflow/envs/*.yaml.

conda is not needed: the files are parsed and their version ranges compared (not solved).
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((REPO / "workflow" / "envs").glob("*.yaml"))
NOT_PACKAGES = {"python", "pip"}
CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*$")
PYTHONS = [f"3.{minor}" for minor in range(8, 16)]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def declared() -> dict[str, SpecifierSet]:
    """Every third-party requirement of pyproject (dependencies and extras), by name."""
    project = pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    specs: dict[str, SpecifierSet] = {}
    for text in reqs:
        req = Requirement(text)
        if canonicalize_name(req.name) == "marrowflow":
            continue
        name = canonicalize_name(req.name)
        assert specs.get(name, req.specifier) == req.specifier, f"{name} declared twice"
        specs[name] = req.specifier
    return specs


def env_requirements(path: Path) -> dict[str, SpecifierSet]:
    """Name -> version range of a conda env file (conda and pip entries alike)."""
    env = yaml.safe_load(path.read_text())
    found: dict[str, SpecifierSet] = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            if entry.startswith("-e"):
                continue
            match = CONDA_SPEC.match(entry)
            assert match, f"{path.name}: cannot parse {entry!r}"
            name = canonicalize_name(match.group(1))
            assert name not in found, f"{path.name}: {name} listed twice"
            found[name] = SpecifierSet(match.group(3).replace(" ", ""))
    return found


def test_env_files_exist():
    assert {p.stem for p in ENV_FILES} >= {"core", "segment", "track", "evaluate"}


@pytest.mark.parametrize("path", [*ENV_FILES, REPO / "environment.yml"], ids=lambda p: p.name)
def test_versions_match_pyproject(path):
    specs = declared()
    for name, spec in env_requirements(path).items():
        if name in NOT_PACKAGES:
            continue
        assert name in specs, f"{path.name}: {name} is not declared in pyproject.toml"
        assert spec == specs[name], (f"{path.name}: {name}{spec} but pyproject.toml says "
                                     f"{name}{specs[name]}")


@pytest.mark.parametrize("path", [*ENV_FILES, REPO / "environment.yml"], ids=lambda p: p.name)
def test_python_and_channels(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"][:2] == ["conda-forge", "bioconda"], path.name
    allowed = env_requirements(path)["python"]
    required = SpecifierSet(pyproject()["project"]["requires-python"])
    in_env = [v for v in PYTHONS if v in allowed]
    assert in_env, f"{path.name}: python range {allowed} allows no release"
    assert all(v in required for v in in_env), f"{path.name}: python {allowed} vs {required}"


def test_environment_yml_installs_everything():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    have = env_requirements(REPO / "environment.yml")
    project = pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in ("cellpose", "napari", "slurm"):
        wanted += project["optional-dependencies"][extra]
    missing = [r for r in wanted if canonicalize_name(Requirement(r).name) not in have]
    assert not missing, f"environment.yml lacks {missing}"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip, "environment.yml must install the project itself (pip: -e .)"
    assert "napari[pyqt6]>=0.9,<0.10" in pip, "napari with its Qt binding, as in pyproject"


def pip_entries(path: Path) -> list[str]:
    """The `pip:` list of a conda env file (empty without one)."""
    env = yaml.safe_load(path.read_text())
    return next((d["pip"] for d in env["dependencies"] if isinstance(d, dict)), [])


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_the_project(path):
    """Each rule env installs marrowflow itself (the rule scripts import it), editable from the
    folder in $MARROWFLOW_SOURCE, which the Snakefile sets to the workflow's folder: a relative path
    would be read from wherever conda puts its copy of the env file (<workdir>/.snakemake/conda/)."""
    editable = [e.removeprefix("-e").strip() for e in pip_entries(path) if e.startswith("-e")]
    assert editable == ["${MARROWFLOW_SOURCE}"], f"{path.name}: expected one `-e ${{MARROWFLOW_SOURCE}}` entry"
    assert "pip" in yaml.safe_load(path.read_text())["dependencies"], f"{path.name}: a pip section needs pip"


def test_snakefile_points_the_envs_at_the_repository():
    """The Snakefile sets MARROWFLOW_SOURCE to its own folder (the repository) unless the user did."""
    text = (REPO / "Snakefile").read_text()
    assert 'os.environ.setdefault("MARROWFLOW_SOURCE", workflow.basedir)' in text
    assert (REPO / "pyproject.toml").is_file(), "workflow.basedir (the Snakefile's folder) must hold the project"


def rules_by_env() -> dict[str, list[str]]:
    """The rules each env file's header says it serves (`# Rule: x` / `# Rules: x, y`)."""
    served = {}
    for path in ENV_FILES:
        header = re.search(r"^# Rules?: ([\w, ]+)", path.read_text(), re.M)
        assert header, f"{path.name}: first line must name the rules it serves"
        served[path.name] = [r.strip() for r in header.group(1).split(",")]
    return served


def test_each_rule_has_one_env_and_directives_agree():
    rules_text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    rule_names = set(re.findall(r"^(?:rule|checkpoint) (\w+):", rules_text, re.M))
    served = rules_by_env()
    owner = {}
    for env_name, rules in served.items():
        for rule in rules:
            assert rule not in owner, f"rule {rule} is served by {owner.get(rule)} and {env_name}"
            owner[rule] = env_name
    assert set(owner) == rule_names, (f"rules without an env: {rule_names - set(owner)}; env "
                                      f"headers naming no rule: {set(owner) - rule_names}")
    for block in re.split(r"^(?=(?:rule|checkpoint) \w+:)", rules_text, flags=re.M):
        head = re.match(r"(?:rule|checkpoint) (\w+):", block)
        conda = re.search(r"^\s+conda:\s*\n?\s*\"([^\"]+)\"", block, re.M)
        if head and conda:
            assert Path(conda.group(1)).name == owner.get(head.group(1)), (
                f"rule {head.group(1)} uses {conda.group(1)}, its env header says "
                f"{owner.get(head.group(1))}")
