"""The wheel works without the repository: `pip install .` (not editable) into a fresh venv.

The wheel is built from a copy of the sources (so that no `build/` folder of the working tree can
slip stale files into it) and installed without its dependencies into a venv that borrows them
from the test venv through a `.pth` line. A plain path line adds that site-packages folder but
does not run the `.pth` files inside it, so the test venv's editable install stays inactive and
`marrowflow` can only come from the wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "pipeline", "plugins"]
PRESETS = sorted(p.name for p in (REPO / "pipeline" / "segment" / "presets").glob("*.yaml"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built without build isolation (nothing is downloaded)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, capture_output=True, text=True)
    (found,) = out.glob("marrowflow-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new venv with the wheel installed (non-editable); returns its root."""
    root = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(purelib) / "_test_venv_dependencies.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True, text=True)
    return root


def run_in(venv: Path, code: str, cwd: Path) -> dict:
    """Run `code` in the venv's python (isolated mode, from `cwd`); it prints one JSON object."""
    done = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "marrowflow/config.schema.yaml" in names
    assert {f"marrowflow/segment/presets/{p}" for p in PRESETS} <= set(names) and PRESETS
    assert "marrowflow_review/napari.yaml" in names
    assert not [n for n in names if n.startswith("pipeline/")]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"marrowflow", "marrowflow_review"}


def test_installed_wheel_works_without_the_repository(fresh_venv, tmp_path):
    (tmp_path / "config.yaml").write_text("channels:\n  - {name: nuclei, role: nuclear}\n")
    (tmp_path / "bad.yaml").write_text("channels:\n  - {name: nuclei}\ntracking: {gap_closing_frames: -1}\n")
    found = run_in(fresh_venv, """
        import importlib.util, json, sysconfig
        from pathlib import Path

        import marrowflow
        from marrowflow.errors import ConfigError
        from marrowflow.segment import classic_params, list_presets, load_preset
        from marrowflow.workflow.config import load_config

        config = load_config("config.yaml")
        try:
            load_config("bad.yaml")
            bad = None
        except ConfigError as exc:
            bad = str(exc)
        site = Path(sysconfig.get_path("purelib"))
        print(json.dumps({
            "file": marrowflow.__file__, "site": str(site),
            "pipeline_spec": importlib.util.find_spec("pipeline") is not None,
            "pipeline_dir": (site / "pipeline").exists(),
            "gap_closing_frames": config["tracking"]["gap_closing_frames"],
            "bad": bad,
            "presets": {name: len(load_preset(name)) for name in list_presets()},
            "default_classic": len(classic_params({})),
        }))
    """, cwd=tmp_path)
    assert Path(found["file"]).is_relative_to(found["site"]), found["file"]
    assert not Path(found["file"]).is_relative_to(REPO)
    assert not found["pipeline_spec"] and not found["pipeline_dir"]
    assert found["gap_closing_frames"] >= 0
    assert found["bad"] and "gap_closing_frames" in found["bad"]
    assert sorted(found["presets"]) == [p.removesuffix(".yaml") for p in PRESETS]
    assert all(n > 0 for n in found["presets"].values()) and found["default_classic"] > 0


def test_console_script(fresh_venv, tmp_path):
    script = fresh_venv / "bin" / "marrowflow"
    assert script.read_text().startswith(f"#!{fresh_venv / 'bin' / 'python'}")
    done = subprocess.run([str(script), "phenotype", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Writes TABLE with a phenotype column" in done.stdout
