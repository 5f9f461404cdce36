"""marrowflow.workflow.provenance: versions, config hash, streamed input checksums, atomic provenance.json."""

import hashlib
import json
import subprocess
from datetime import UTC, datetime

import pytest

from marrowflow.errors import InputError
from marrowflow.workflow import provenance

CONFIG = {"segmentation": {"backend": "classic"}, "channels": [{"name": "nuclei"}], "b": 1.5}
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
END = datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC)


def test_config_hash_is_canonical_json():
    reordered = {"b": 1.5, "channels": [{"name": "nuclei"}], "segmentation": {"backend": "classic"}}
    canonical = json.dumps(CONFIG, sort_keys=True, separators=(",", ":")).encode()
    assert provenance.config_sha256(CONFIG) == hashlib.sha256(canonical).hexdigest()
    assert provenance.config_sha256(reordered) == provenance.config_sha256(CONFIG)
    assert provenance.config_sha256({**CONFIG, "b": 2}) != provenance.config_sha256(CONFIG)


def test_file_checksum_is_streamed_and_exact(tmp_path, monkeypatch):
    data = bytes(range(256)) * 41  # 10,496 bytes: several chunks of 1 KiB
    path = tmp_path / "movie.tif"
    path.write_bytes(data)
    monkeypatch.setattr(provenance, "CHUNK_BYTES", 1024)
    assert provenance.file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_folder_inputs_list_every_file(tmp_path):
    gt = tmp_path / "GT"
    (gt / "TRA").mkdir(parents=True)
    (gt / "TRA" / "man_track.txt").write_text("1 0 3 0\n")
    (gt / "cell_types.csv").write_text("frame,label,cell_type\n")
    single = tmp_path / "config.yaml"
    single.write_text("a: 1\n")
    sums = provenance.input_checksums([gt, str(single)])
    assert set(sums) == {f"{gt.as_posix()}/TRA/man_track.txt", f"{gt.as_posix()}/cell_types.csv",
                         str(single)}
    assert sums[str(single)] == hashlib.sha256(b"a: 1\n").hexdigest()


def test_missing_input_names_the_path(tmp_path):
    with pytest.raises(InputError, match="nope.tif"):
        provenance.input_checksums([tmp_path / "nope.tif"])


def test_write_provenance_record(tmp_path):
    movie = tmp_path / "movie.tif"
    movie.write_bytes(b"\x00\x01")
    out = provenance.write_provenance(tmp_path / "results" / "s1", config=CONFIG, inputs=[movie],
                                      command=["snakemake", "--cores", "2", "a b"], start=START,
                                      end=END.timestamp())
    assert out == tmp_path / "results" / "s1" / "provenance.json"
    record = json.loads(out.read_text())
    assert record["config"] == CONFIG
    assert record["config_sha256"] == provenance.config_sha256(CONFIG)
    assert record["inputs"] == {str(movie): hashlib.sha256(b"\x00\x01").hexdigest()}
    assert record["command"] == "snakemake --cores 2 'a b'"
    assert record["start"] == "2026-01-02T03:04:05+00:00"
    assert record["end"] == "2026-01-02T03:05:00+00:00"
    assert record["packages"]["numpy"] == __import__("numpy").__version__
    assert record["packages"]["marrowflow"] is not None
    assert record["host"] and record["python"].count(".") == 2
    assert not list(out.parent.glob("*.tmp*")), "no temporary file left behind"


def test_git_revision_of_a_repo_and_outside_one(tmp_path):
    assert provenance.git_revision(tmp_path) is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("x")
    env = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", *env, "-C", str(tmp_path), "add", "f.txt"], check=True)
    subprocess.run(["git", *env, "-C", str(tmp_path), "commit", "-qm", "x"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert provenance.git_revision(tmp_path) == {"revision": head, "dirty": False}
    (tmp_path / "f.txt").write_text("changed")
    assert provenance.git_revision(tmp_path)["dirty"] is True
