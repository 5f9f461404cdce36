"""The workflow passes Snakemake's linter and is formatted with snakefmt; the library keeps its
layers (docs/architecture.md); no file names the old module layout (`pipeline.<module>` imports,
workflow/schemas/, workflow/presets/)."""

import ast
import re
import subprocess
import sys

import pytest

from workflow_helpers import REPO_ROOT


def test_snakemake_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-n"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]


@pytest.mark.parametrize("path", ["Snakefile", "workflow/rules"])
def test_snakefmt_leaves_the_workflow_unchanged(path):
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", path], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


TEXT_SUFFIXES = {".py", ".smk", ".md", ".rst", ".yaml", ".yml", ".toml", ".cfg", ".txt", ".sh"}
NOT_SOURCE = {".git", ".venv", "build", "dist", "results", "resources", "logs", "reviews", ".snakemake",
              "__pycache__", ".ruff_cache", ".pytest_cache"}
# the library's import name is marrowflow; `pipeline/` is only its folder
OLD_NAMES = re.compile(r"\bpipeline\.[a-z_]|\b(?:from|import) pipeline\b|workflow/schemas/|workflow/presets/")


def source_files() -> list:
    """The repository's own text files (no environments, outputs or caches)."""
    found = []
    for path in REPO_ROOT.rglob("*"):
        parts = set(path.relative_to(REPO_ROOT).parts)
        if parts & NOT_SOURCE or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in ("Snakefile", ".gitignore"):
            found.append(path)
    return found


def test_no_file_names_the_old_layout():
    hits = [f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}"
            for path in source_files() if path.name != "test_workflow_hygiene.py"
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if OLD_NAMES.search(line)]
    assert not hits, "old module names or paths (use marrowflow.<module>, pipeline/...):\n" + "\n".join(hits)


LIBRARY = REPO_ROOT / "pipeline"
BASE = {"io", "errors", "contract", "schema"}
FRONT_ENDS = {"workflow", "cli"}
UI_OR_WORKFLOW = ("snakemake", "napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui",
                  "marrowflow_review", "marrowflow.workflow", "marrowflow.cli")


def imported_modules(path) -> set:
    """Every module a file imports (absolute names), wherever the import statement is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def is_under(name: str, roots) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def test_library_layers():
    problems = []
    for path in sorted(LIBRARY.rglob("*.py")):
        layer = path.relative_to(LIBRARY).parts[0].removesuffix(".py")
        if layer in FRONT_ENDS:
            continue
        where = path.relative_to(REPO_ROOT)
        for name in sorted(imported_modules(path)):
            if is_under(name, UI_OR_WORKFLOW):
                problems.append(f"{where} imports {name}: only marrowflow.workflow and marrowflow.cli may")
            parts = name.split(".")
            if layer in BASE and parts[0] == "marrowflow" and len(parts) > 1 and parts[1] not in BASE:
                problems.append(f"{where} (bottom floor) imports the step {name}")
    assert not problems, "\n".join(problems)
