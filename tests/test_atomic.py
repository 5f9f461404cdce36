"""Failure safety: atomic writes, and a writer SIGKILLed mid-write leaves no file under the final name."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from marrowflow.io import atomic_dir, atomic_write, clean_stale_temps
from marrowflow.io.atomic import _HOST

REPO = Path(__file__).resolve().parents[1]

# Writes a label stack (frame by frame, printing progress), then a parquet table and a JSON file.
WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import pandas as pd
    from marrowflow.io import LabelStackWriter, write_json, write_table

    out = sys.argv[1]
    n, shape = 40, (384, 384)
    rng = np.random.default_rng(7)
    with LabelStackWriter(f"{out}/labels.tif", n, shape) as writer:
        for t in range(n):
            writer.write(t, rng.integers(0, 5000, shape))
            print("frame", t, flush=True)
    table = pd.DataFrame({"frame": np.arange(1000) % n, "area": rng.random(1000)})
    write_table(table, f"{out}/cells.parquet")
    write_json({"n_frames": n, "shape": shape}, f"{out}/metadata.json")
    print("done", flush=True)
""")
OUTPUTS = ("labels.tif", "cells.parquet", "metadata.json")


def _run_writer(folder: Path, kill_after_frame: int | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=env)
    for line in proc.stdout:
        if kill_after_frame is not None and line.strip() == f"frame {kill_after_frame}":
            proc.send_signal(signal.SIGKILL)
            break
    proc.stdout.close()
    return proc.wait(timeout=120)


def test_killed_writer_leaves_no_final_file_and_rerun_matches(tmp_path):
    reference, target = tmp_path / "reference", tmp_path / "target"
    reference.mkdir()
    target.mkdir()
    assert _run_writer(reference) == 0
    assert _run_writer(target, kill_after_frame=5) == -signal.SIGKILL
    left = sorted(p.name for p in target.iterdir())
    assert not set(OUTPUTS) & set(left)  # nothing under a final name
    assert len(left) == 1 and left[0].startswith(".tmp.")  # killed mid-write: only a hidden temp
    assert _run_writer(target) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(OUTPUTS)  # the stale temp was cleaned
    for name in OUTPUTS:
        assert (target / name).read_bytes() == (reference / name).read_bytes(), name


def test_killed_inside_atomic_write(tmp_path):
    final = tmp_path / "table.csv"
    code = textwrap.dedent(f"""
        import os, signal
        from marrowflow.io import atomic_write
        with atomic_write({str(final)!r}) as tmp:
            tmp.write_text("half a ta")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL
    assert not final.exists()
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".tmp.") and stale.name.endswith(".table.csv")
    assert clean_stale_temps(final) == [stale] and not stale.exists()


def test_atomic_write_success_and_error(tmp_path):
    path = tmp_path / "sub" / "x.json"
    with atomic_write(path) as tmp:
        assert tmp.parent == path.parent and tmp.name.endswith(".x.json") and tmp != path
        tmp.write_text("one")
        assert not path.exists()
    assert path.read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_write(path) as tmp:
            tmp.write_text("two, half")
            raise RuntimeError("boom")
    assert path.read_text() == "one"  # the old file is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]  # temp removed


def test_atomic_write_requires_output(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_write(tmp_path / "x.txt"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_live_writers_temp_is_not_cleaned(tmp_path):
    final = tmp_path / "x.txt"
    with atomic_write(final) as tmp:
        tmp.write_text("in progress")
        assert clean_stale_temps(final) == [] and tmp.exists()


def test_a_killed_writers_temp_folder_is_cleaned(tmp_path):
    final = tmp_path / "ctc"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = tmp_path / f".tmp.{int(proc.stdout)}.{_HOST}.0123abcd.ctc"
    (stale / "sub").mkdir(parents=True)
    assert clean_stale_temps(final) == [stale] and not stale.exists()


def test_atomic_dir_replaces_the_folder_or_leaves_it(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("2")
        raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in final.iterdir()] == ["a.txt"]
