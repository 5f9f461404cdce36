"""The workflow on a real one-node SLURM cluster (scripts/slurm_local.sh), through the profiles
workflow/profiles/slurm and slurm-gpu and snakemake-executor-plugin-slurm.

Needs root (it installs Debian's SLURM packages when missing and starts the daemons on loopback);
the module stops at the end exactly the daemons it started. Independent runs go concurrently:
each SLURM run spends most of its time waiting between the executor's status checks.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "workflow" / "profiles"
SLURMCTLD_LOG = Path("/var/log/slurm/slurmctld.log")
# what a test cluster needs on top of a profile: no account, a fast first status check
TEST_CLUSTER_ARGS = ["--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1"]
SMALL_DEMO = """\
samples: small.tsv
demo:
  control_1: {seed: 1, n_frames: 6, size: 128, n_founders: 6}
  epo_1: {seed: 2, n_frames: 6, size: 128, n_founders: 6}
"""
# fails with less than 300 MB: passes on the profile's retry, which asks for more
TINY = """\
rule segment:
    output: "out/a.txt"
    log: "logs/segment/a.log"
    resources:
        mem_mb=lambda wc, attempt: 200 * attempt,
        runtime=5,
    shell: "echo job=${{SLURM_JOB_ID:-none}} mem={resources.mem_mb} > {log};"
           " test {resources.mem_mb} -ge 300; echo a > {output}"
"""
BROKEN = """\
rule broken:
    output: "out/never.txt"
    log: "logs/broken/never.log"
    resources: mem_mb=100, runtime=5
    shell: "echo 'about to fail' > {log}; exit 3"
"""


@dataclass
class Run:
    workdir: Path
    returncode: int
    output: str
    seconds: float


def start(workdir: Path, *args: str) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=workdir, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, time.perf_counter()


def finish(workdir: Path, started: tuple[subprocess.Popen, float], timeout: int = 420) -> Run:
    proc, t0 = started
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        output += f"\n[test: snakemake killed after {timeout} s]"
        leftover = submitted_job_ids(output)
        if leftover:  # the jobs of a killed run would go on
            subprocess.run(["scancel", *leftover], check=False)
    return Run(workdir, proc.returncode, output, time.perf_counter() - t0)


def slurm_args(profile: str) -> list[str]:
    return ["--profile", str(PROFILES / profile), *TEST_CLUSTER_ARGS]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running local SLURM; stops at the end what this fixture started (nothing otherwise).
    Yields where the controller's log stood before, so that only this session's lines count."""
    env = {**os.environ, "MARROWFLOW_SLURM_STATE": str(tmp_path_factory.mktemp("slurm-state"))}
    log_offset = SLURMCTLD_LOG.stat().st_size if SLURMCTLD_LOG.exists() else 0
    subprocess.run(["bash", str(REPO / "scripts" / "slurm_local.sh")], env=env, check=True,
                   timeout=600)
    yield log_offset
    subprocess.run(["bash", str(REPO / "scripts" / "slurm_stop.sh")], env=env, check=True,
                   timeout=120)


def copy_workflow(dst: Path) -> Path:
    """The repository's workflow with a small demo (2 samples x 6 frames of 128 x 128)."""
    dst.mkdir(parents=True)
    for name in ("Snakefile", "config.yaml", "samples.tsv"):
        shutil.copy(REPO / name, dst / name)
    shutil.copytree(REPO / "workflow", dst / "workflow",
                    ignore=shutil.ignore_patterns("__pycache__", ".snakemake"))
    (dst / "small.yaml").write_text(SMALL_DEMO)
    # two of the demo's organoids (one per condition), each a replicate of its own
    rows = [line for line in (REPO / "samples.tsv").read_text().splitlines()
            if line.startswith(("sample\t", "control_1\t", "epo_1\t"))]
    (dst / "small.tsv").write_text("\n".join(rows) + "\n")
    return dst


@pytest.fixture(scope="module")
def runs(slurm, tmp_path_factory) -> dict[str, Run]:
    """Four runs side by side: the demo locally and on SLURM, the retrying GPU workflow and the
    failing one on SLURM."""
    root = tmp_path_factory.mktemp("runs")
    dirs = {"local": copy_workflow(root / "local"), "cluster": copy_workflow(root / "cluster"),
            "gpu": root / "tiny-gpu", "broken": root / "broken"}
    for name, snakefile in (("gpu", TINY), ("broken", BROKEN)):
        dirs[name].mkdir()
        (dirs[name] / "Snakefile").write_text(snakefile)
    demo = ["--configfile", "config.yaml", "small.yaml"]
    # --cores 1: at most one CPU per job, so that both samples' jobs fit the 2-CPU test node at once
    started = {"cluster": start(dirs["cluster"], *slurm_args("slurm"), "--cores", "1", *demo),
               "gpu": start(dirs["gpu"], *slurm_args("slurm-gpu")),
               "broken": start(dirs["broken"], *slurm_args("slurm"), "--retries", "0"),
               "local": start(dirs["local"], "--cores", "2", *demo)}
    with ThreadPoolExecutor(len(started)) as pool:  # each run's own end time
        done = {name: pool.submit(finish, dirs[name], s) for name, s in started.items()}
    return {name: future.result() for name, future in done.items()}


def submitted_job_ids(output: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def slurm_jobs(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """State, partition, memory, comment (the rule) and GRES of finished or running jobs."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids),
                          "-o", "%i|%T|%P|%m|%k|%b"], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split("|") for line in out.strip().splitlines()]
    return {r[0]: {"state": r[1], "partition": r[2], "mem": r[3], "comment": r[4], "gres": r[5]}
            for r in rows}


def assert_in_controller_log(job_ids: list[str], log_offset: int) -> None:
    with SLURMCTLD_LOG.open("rb") as fh:
        fh.seek(log_offset)
        text = fh.read().decode(errors="replace")
    for job_id in job_ids:
        assert re.search(rf"_slurm_rpc_submit_batch_job: JobId={job_id}\b", text), job_id


def test_gpu_profile_retry_asks_for_more_memory_on_the_gpu_partition(runs, slurm):
    run = runs["gpu"]
    assert run.returncode == 0, run.output[-4000:]
    assert (run.workdir / "out" / "a.txt").read_text() == "a\n"
    ids = sorted(submitted_job_ids(run.output), key=int)
    jobs = slurm_jobs(ids)
    assert len(ids) == 2 and set(jobs) == set(ids), run.output[-4000:]
    assert_in_controller_log(ids, slurm)
    first, retry = jobs[ids[0]], jobs[ids[1]]
    assert (first["mem"], first["state"]) == ("200M", "FAILED")
    assert (retry["mem"], retry["state"]) == ("400M", "COMPLETED")
    assert {j["partition"] for j in jobs.values()} == {"gpu"}
    assert {j["gres"] for j in jobs.values()} == {"gres:gpu:1"}
    # the rule's own log was written inside the retried SLURM job
    assert (run.workdir / "logs/segment/a.log").read_text() == f"job={ids[1]} mem=400\n"


def test_failing_rule_fails_the_run_and_names_its_log(runs):
    run = runs["broken"]
    assert run.returncode != 0
    assert "Error in rule broken" in run.output
    assert "logs/broken/never.log" in run.output
    assert (run.workdir / "logs/broken/never.log").read_text() == "about to fail\n"
    ids = submitted_job_ids(run.output)
    assert len(ids) == 1 and slurm_jobs(ids)[ids[0]]["state"] == "FAILED"
    assert not (run.workdir / "out" / "never.txt").exists()


def test_gpu_profile_is_the_slurm_profile_plus_gpu_lines():
    plain = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    gpu = yaml.safe_load((PROFILES / "slurm-gpu" / "config.yaml").read_text())
    differ = {k for k in plain.keys() | gpu.keys() if plain.get(k) != gpu.get(k)}
    assert differ == {"groups", "set-resources"}
    assert set(gpu["set-resources"]) == {"segment", "segment_chunk"}
    assert all(r["gres"] == "gpu:1" for r in gpu["set-resources"].values())
    moved = {"demo_data=sample": "demo_data=prepare", "ingest=sample": "ingest=prepare"}
    assert gpu["groups"] == [moved.get(g, g) for g in plain["groups"]
                             if g not in ("segment=sample", "segment_chunk=sample")]


def test_every_step_of_a_sample_is_in_the_sample_group():
    """A rule of one sample left out of the group breaks the group's DAG (Snakemake refuses it);
    only the training rules run on their own."""
    rules_text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", rules_text, re.M))
    for profile in ("slurm", "slurm-gpu"):
        groups = yaml.safe_load((PROFILES / profile / "config.yaml").read_text())["groups"]
        grouped = {g.split("=")[0] for g in groups}
        alone = {"train_segmentation", "train_classifier", "tune_segmentation"}
        alone |= {"segment", "segment_chunk"} if profile == "slurm-gpu" else set()
        assert rules - alone == grouped, f"{profile}: not grouped {rules - alone - grouped}, unknown {grouped - rules}"


def result_files(root: Path) -> dict[str, bytes]:
    """Every file under results/ except provenance records (times, command, host differ)."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted((root / "results").rglob("*"))
            if p.is_file() and p.name != "provenance.json"}


def test_demo_on_slurm_matches_local_run(runs, slurm):
    local, cluster = runs["local"], runs["cluster"]
    assert local.returncode == 0, local.output[-4000:]
    assert cluster.returncode == 0, cluster.output[-4000:]
    print(f"\ndemo wall time (side by side with the other runs): local --cores 2 "
          f"{local.seconds:.1f} s, SLURM {cluster.seconds:.1f} s")

    ids = submitted_job_ids(cluster.output)
    jobs = slurm_jobs(ids)
    assert ids and set(jobs) == set(ids)
    assert {j["state"] for j in jobs.values()} == {"COMPLETED"}
    assert {j["partition"] for j in jobs.values()} == {"main"}
    assert_in_controller_log(ids, slurm)
    # the steps went as group jobs (workflow/profiles/slurm): one per sample, one for the summary
    groups = sorted(re.match(r"rule_(sample|summary)_", j["comment"]).group(1)
                    for j in jobs.values())
    assert groups == ["sample", "sample", "summary"], jobs

    local_files, cluster_files = result_files(local.workdir), result_files(cluster.workdir)
    assert any(name.endswith("counts.csv") for name in local_files)
    assert sorted(cluster_files) == sorted(local_files)
    differing = [n for n in local_files if local_files[n] != cluster_files[n]]
    assert not differing, f"results differ between the local and the SLURM run: {differing}"
