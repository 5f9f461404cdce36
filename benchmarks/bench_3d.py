"""Scale benchmark (issue 20, item 5): the whole workflow on a large 3D+t movie, per step.

Writes a synthetic organoid movie (default 100 frames x 40 z x 512 x 512 x 4 channels, uint16,
about 4 GiB) as OME-TIFF frame by frame with its Cell Tracking Challenge ground truth, then runs
the workflow (Snakemake, the repository's Snakefile) end to end on it in a temporary project
folder, once with 1 thread (`--cores 1`, `jobs.threads_per_sample: 1`) and once with 2, one job
at a time so that each step has the cores to itself. Per step (rule) it reports the wall time,
CPU seconds and peak RSS of the rule's script process (its largest process: the script itself
or one of its forked worker processes, whose RSS counts the pages shared with the script), and
the 1-thread / 2-thread wall-time ratio. Each size in `--frames` is run (default 10 and 100);
the peak RSS of the largest over the smallest is the issue's memory target (<= 1.2). `--2d`
does the same for the 2D benchmark (default 50 and 500 frames of 1024 x 1024). Writes
`bench_3d.json` and `bench_3d.md` (tables) to `--out`.

    .venv/bin/python benchmarks/bench_3d.py [--frames 10 100] [--z 40] [--size 512] [--channels 4]
        [--threads 1 2] [--2d] [--out DIR] [--workdir DIR]

Content: the 3D (or 2D) generator of `marrowflow.synthetic` / `marrowflow.synthetic_3d`, run one
frame at a time (`marrowflow.synthetic.simulate_frames`: the frames of `simulate_organoid`, which
returns the whole movie in memory), so neither the movie nor its truth is ever held whole; the first frames of a
longer movie are those of a shorter one with the same seed. Simulating takes about 8.5 s per
40 x 512 x 512 frame on one core. The `--channels` first of the generator's five channels are
written (nuclei, CD34, CD235a, MPO, CD41); classes that need a channel left out are dropped.

How steps are timed: Snakemake runs each rule's script as a Python process; a `sitecustomize`
module put on that process's PYTHONPATH records, when the process exits, its rule, wall time since
start, `getrusage` CPU time and peak RSS (its own `VmHWM`, and `ru_maxrss` of its finished
worker processes). The rules have no `benchmark:` directive, and this needs none. Hand-written: no
installed tool times and sizes every job of a Snakemake run without editing its rules.
Not a test: at full size it takes hours on 2 cores (tests/test_bench_3d.py runs a tiny movie).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tifffile
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "bench"
# defaults per mode: frames, z planes, size, time step (h; 2D: 500 frames at 0.5 h would be 31 cell
# cycles, so 2D movies are imaged every 6 min), founders
MODES = {
    "3d": {"frames": [10, 100], "z": 40, "size": 512, "time_step_h": 0.5, "founders": 40},
    "2d": {"frames": [50, 500], "z": 1, "size": 1024, "time_step_h": 0.1, "founders": 40},
}
# Recorder of every script process Snakemake starts (see the module docstring); written as
# sitecustomize.py into a folder put first on PYTHONPATH. Only processes whose __main__ holds
# Snakemake's `snakemake` object (a rule's script) write a record.
PROBE = '''"""marrowflow bench_3d probe: wall time, CPU time and peak RSS of a rule's script process."""
import atexit, json, os, re, resource, sys, time

_START = time.time()


def _peak_rss_mib(usage):
    # VmHWM: this process's own peak since its exec. ru_maxrss is not: Linux keeps it across
    # exec, so it would report Snakemake's own RSS, from which the script process was forked.
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration, ValueError):
        return usage.ru_maxrss / 1024


def _record():
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    rule = getattr(smk, "rule", None)
    if not isinstance(rule, str):
        return
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    work_s = None
    try:
        found = re.findall(r"done in ([0-9.]+) s", open(smk.log[0], encoding="utf-8").read())
        work_s = float(found[-1]) if found else None
    except (IndexError, OSError):
        pass
    record = {"rule": rule, "pid": os.getpid(), "wall_s": time.time() - _START, "work_s": work_s,
              "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
              "rss_self_mib": _peak_rss_mib(me), "rss_workers_mib": kids.ru_maxrss / 1024}
    folder = os.environ["MARROWFLOW_BENCH_RECORDS"]
    with open(os.path.join(folder, f"{rule}_{os.getpid()}.json"), "w") as fh:
        json.dump(record, fh)


if os.environ.get("MARROWFLOW_BENCH_RECORDS"):
    atexit.register(_record)
'''


def organoid_params(n_frames: int, z: int, size: int, *, ndim: int = 3, time_step_h: float = 0.5,
                    n_founders: int = 40, seed: int = 1, **extra):
    """The generator's parameters of one benchmark movie (defaults of the schema otherwise; on a
    field under 56 px, nuclei of radius size / 8, the largest the generator accepts)."""
    from marrowflow.synthetic import OrganoidParams

    section = {"ndim": ndim, "seed": seed, "n_frames": n_frames, "size": [size, size],
               "time_step_h": time_step_h, "n_founders": n_founders}
    if size < 56:
        section["radius_px"] = max(size / 8, 2.0)
    section.update(extra)
    if ndim == 3:
        section["z_slices"] = z
    return OrganoidParams.from_config(section, where="bench_3d")


def _write_tif(path: Path, data: np.ndarray) -> None:
    from marrowflow.io import atomic_write

    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, data, compression="zlib", photometric="minisblack")


class _Truth:
    """CTC ground truth written as the frames come: TRA and SEG masks per frame, then the track
    file and the true types (`write_synthetic`'s layout, SEG every `seg_every` frames)."""

    def __init__(self, gt_dir: Path, n_frames: int, seg_every: int):
        self.gt_dir, self.n_frames, self.seg_every = gt_dir, n_frames, seg_every
        self.width = max(3, len(str(n_frames - 1)))
        self.begin: dict[int, int] = {}
        self.end: dict[int, int] = {}
        self.types: list[tuple[int, int, str]] = []
        self.parents: dict[int, int] = {}

    def add(self, t: int, labels: np.ndarray, types: dict[int, str], parents: dict[int, int]) -> None:
        """Frame `t`'s masks, its cells' true types and the parents known so far."""
        self.parents = parents
        if labels.max(initial=0) > np.iinfo(np.uint16).max:
            raise ValueError(f"{self.gt_dir}: frame {t} has label {labels.max()}; CTC masks are uint16: "
                             "simulate fewer frames or founders (--founders)")
        mask = labels.astype(np.uint16)
        _write_tif(self.gt_dir / "TRA" / f"man_track{t:0{self.width}d}.tif", mask)
        if t % self.seg_every == 0 or t == self.n_frames - 1:
            _write_tif(self.gt_dir / "SEG" / f"man_seg{t:0{self.width}d}.tif", mask)
        for lab in sorted(types):
            self.begin.setdefault(lab, t)
            self.end[lab] = t
            self.types.append((t, lab, types[lab]))

    def close(self) -> int:
        """Write TRA/man_track.txt and cell_types.csv; the number of tracks."""
        from marrowflow.io import atomic_write

        parent = {lab: self.parents[lab] if self.parents[lab] in self.begin else 0 for lab in self.begin}
        rows = [f"{lab} {self.begin[lab]} {self.end[lab]} {parent[lab]}"
                for lab in sorted(self.begin)]
        with atomic_write(self.gt_dir / "TRA" / "man_track.txt") as tmp:
            tmp.write_text("".join(r + "\n" for r in rows))
        with atomic_write(self.gt_dir / "cell_types.csv") as tmp:
            tmp.write_text("frame,label,cell_type\n" + "".join(f"{t},{lab},{kind}\n" for t, lab, kind in self.types))
        return len(rows)


def write_movie(p, n_channels: int, movie_path: Path, gt_dir: Path, *, compression: str | None = None) -> dict:
    """Simulate and write the movie (OME-TIFF T C [Z] Y X, the first `n_channels` channels) and its
    ground truth frame by frame; seconds taken, size and number of tracks."""
    from marrowflow.io import atomic_write
    from marrowflow.synthetic import CHANNEL_NAMES, simulate_frames

    if not 1 <= n_channels <= len(CHANNEL_NAMES):
        raise ValueError(f"--channels {n_channels}: the generator draws 1 to {len(CHANNEL_NAMES)} channels "
                         f"({', '.join(CHANNEL_NAMES)})")
    start = time.perf_counter()
    zyx = ((p.z_slices,) if p.ndim == 3 else ()) + tuple(p.size)
    truth = _Truth(gt_dir, p.n_frames, p.seg_every_frames)

    def planes() -> Iterator[np.ndarray]:
        for t, (image, labels, types, parents) in enumerate(simulate_frames(p)):
            truth.add(t, labels, types, parents)
            yield from image[:n_channels].reshape(-1, *p.size)

    metadata = {"axes": "TCZYX" if p.ndim == 3 else "TCYX",
                "PhysicalSizeX": p.pixel_size_um, "PhysicalSizeXUnit": "µm",
                "PhysicalSizeY": p.pixel_size_um, "PhysicalSizeYUnit": "µm",
                "TimeIncrement": p.time_step_h, "TimeIncrementUnit": "h",
                "Channel": {"Name": list(CHANNEL_NAMES[:n_channels])}}
    if p.ndim == 3:
        metadata.update(PhysicalSizeZ=p.pixel_size_um * p.z_anisotropy, PhysicalSizeZUnit="µm")
    with atomic_write(movie_path) as tmp:
        tifffile.imwrite(tmp, planes(), shape=(p.n_frames, n_channels, *zyx), dtype=np.uint16, ome=True,
                         bigtiff=True, photometric="minisblack", compression=compression, metadata=metadata)
    n_tracks = truth.close()
    return {"make_s": round(time.perf_counter() - start, 1), "n_tracks": n_tracks,
            "movie_gib": round(movie_path.stat().st_size / 2**30, 3),
            "shape": [p.n_frames, n_channels, *zyx]}


def write_project(folder: Path, movie: Path, gt_dir: Path, n_channels: int, threads: int) -> Path:
    """A project folder: the shipped config.yaml with the benchmark's channels (classes needing a
    channel left out dropped), no demo samples and `threads` per sample; one sample."""
    from marrowflow.synthetic import CHANNEL_NAMES

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    names = list(CHANNEL_NAMES[:n_channels])
    config["channels"] = [{"name": n, "role": "nuclear" if i == 0 else "marker"} for i, n in enumerate(names)]
    classes = [c for c in config["classification"]["classes"] if set(c["when"]) <= set(names)]
    config["classification"]["classes"] = classes
    lineages = [c["name"] for c in classes if c["name"] != "progenitor"]
    config["classification"]["track_vote"] = {"transitions": {"progenitor": lineages}}
    config["demo"] = {}
    config["jobs"] = {"threads_per_sample": int(threads)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sheet = f"sample\tpath\tcondition\tground_truth\n{SAMPLE}\t{movie}\tcontrol\t{gt_dir}\n"
    (folder / "samples.tsv").write_text(sheet)
    return folder


def run_workflow(folder: Path, threads: int, timeout_s: float | None = None) -> dict:
    """Run the whole workflow in `folder` on `threads` cores, one job at a time; per-rule records."""
    probe, records = folder / "probe", folder / "records"
    probe.mkdir(exist_ok=True)
    records.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    env = {**os.environ, "MARROWFLOW_BENCH_RECORDS": str(records),
           "PYTHONPATH": os.pathsep.join([str(probe), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(folder),
           "--configfile", str(folder / "config.yaml"), "--cores", str(threads),
           # one job at a time: a step's wall time is its own, not shared with another job's
           "--resources", "bench_slot=1", "--default-resources", "bench_slot=1"]
    start = time.perf_counter()
    with open(folder / "snakemake.log", "w") as log:
        done = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
    total = time.perf_counter() - start
    if done.returncode:
        tail = (folder / "snakemake.log").read_text()[-3000:]
        raise RuntimeError(f"the workflow failed in {folder} (log: {folder / 'snakemake.log'}):\n{tail}")
    steps = step_table([json.loads(f.read_text()) for f in sorted(records.glob("*.json"))])
    results = folder / "results" / SAMPLE
    digest = {name: hashlib.sha256((results / name).read_bytes()).hexdigest()
              for name in ("labels.tif", "cells.parquet", "tracks.parquet") if (results / name).is_file()}
    return {"threads": threads, "total_s": round(total, 1), "steps": steps, "sha256": digest}


def step_table(records: Sequence[dict]) -> dict[str, dict]:
    """Per rule: summed wall, work and CPU seconds over its jobs, largest peak RSS of any of its
    processes (MiB), number of jobs."""
    steps: dict[str, dict] = {}
    for r in records:
        s = steps.setdefault(r["rule"], {"jobs": 0, "wall_s": 0.0, "work_s": 0.0, "cpu_s": 0.0, "peak_rss_mib": 0.0})
        s["jobs"] += 1
        s["wall_s"] += r["wall_s"]
        s["work_s"] += r["work_s"] or 0.0
        s["cpu_s"] += r["cpu_s"]
        s["peak_rss_mib"] = max(s["peak_rss_mib"], r["rss_self_mib"], r["rss_workers_mib"])
    return {rule: {k: round(v, 2) if isinstance(v, float) else v for k, v in s.items()}
            for rule, s in sorted(steps.items())}


def bench(frames: Sequence[int], threads: Sequence[int], workdir: Path, *, z: int, size: int, n_channels: int,
          ndim: int = 3, time_step_h: float = 0.5, n_founders: int = 40, compression: str | None = None,
          timeout_s: float | None = None, longest_threads: Sequence[int] | None = None, **params) -> dict:
    """Write each movie, run the workflow on it with each thread count (`longest_threads`, when
    given, for the longest movie instead); the report (JSON-able)."""
    report: dict = {"mode": f"{ndim}d", "z": z if ndim == 3 else None, "size": size, "channels": n_channels,
                    "compression": compression or "none", "cpus": os.cpu_count(), "runs": {}}
    for n in frames:
        folder = workdir / f"n{n}"
        movie, gt = folder / "movie.ome.tif", folder / "GT"
        folder.mkdir(parents=True, exist_ok=True)
        p = organoid_params(n, z, size, ndim=ndim, time_step_h=time_step_h, n_founders=n_founders, **params)
        made = write_movie(p, n_channels, movie, gt, compression=compression)
        print(f"{n} frames: movie {made}", file=sys.stderr, flush=True)
        runs = {}
        for k in (longest_threads or threads) if n == max(frames) else threads:
            project = write_project(folder / f"threads{k}", movie, gt, n_channels, k)
            runs[k] = run_workflow(project, k, timeout_s=timeout_s)
            print(f"{n} frames, {k} thread(s): {runs[k]['total_s']} s", file=sys.stderr, flush=True)
        report["runs"][n] = {"movie": made, "load_avg_1min": round(os.getloadavg()[0], 2),
                             "identical_outputs": len({json.dumps(r["sha256"]) for r in runs.values()}) == 1,
                             "threads": runs, "ratio": thread_ratios(runs, list(runs))}
    longest = report["runs"][max(frames)]["threads"]
    report["memory"] = memory_ratios(report["runs"], [k for k in threads if k in longest])
    return report


def thread_ratios(runs: dict[int, dict], threads: Sequence[int]) -> dict[str, float]:
    """Wall time with the first thread count over that with the last, per step (none for one count)."""
    a, b = threads[0], threads[-1]
    if a == b:
        return {}
    return {rule: round(s["wall_s"] / runs[b]["steps"][rule]["wall_s"], 2)
            for rule, s in runs[a]["steps"].items() if runs[b]["steps"].get(rule, {}).get("wall_s")}


def memory_ratios(runs: dict[int, dict], threads: Sequence[int]) -> dict:
    """Peak RSS of the longest movie over the shortest, per thread count: per step and overall."""
    small, large = min(runs), max(runs)
    out = {"frames": [small, large]}
    for k in threads:
        lo, hi = runs[small]["threads"][k]["steps"], runs[large]["threads"][k]["steps"]
        per_step = {rule: round(hi[rule]["peak_rss_mib"] / lo[rule]["peak_rss_mib"], 3) for rule in lo if rule in hi}
        peak = max(s["peak_rss_mib"] for s in hi.values()) / max(s["peak_rss_mib"] for s in lo.values())
        out[k] = {"steps": per_step, "peak": round(peak, 3)}
    return out


def markdown(report: dict) -> str:
    """The report as markdown tables: per movie length, per step; then the memory ratios."""
    lines = [f"# bench_3d ({report['mode']}, {report['channels']} channels, size {report['size']}"
             + (f", {report['z']} z" if report["z"] else "") + f", {report['cpus']} CPUs)", ""]
    for n, run in report["runs"].items():
        ks = list(run["threads"])
        lines += [f"## {n} frames: movie {run['movie']['shape']}, {run['movie']['movie_gib']} GiB, "
                  f"written in {run['movie']['make_s']} s; outputs identical across threads: "
                  f"{run['identical_outputs']}; load {run['load_avg_1min']}", ""]
        head = ["step"] + [f"wall s ({k}T)" for k in ks] + [f"ratio {ks[0]}T/{ks[-1]}T"]
        head += [f"CPU s ({k}T)" for k in ks] + [f"peak RSS MiB ({k}T)" for k in ks]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for rule in run["threads"][ks[0]]["steps"]:
            cells = [rule]
            cells += [_get(run["threads"][k]["steps"], rule, "wall_s") for k in ks]
            cells.append(str(run["ratio"].get(rule, "")))
            cells += [_get(run["threads"][k]["steps"], rule, "cpu_s") for k in ks]
            cells += [_get(run["threads"][k]["steps"], rule, "peak_rss_mib") for k in ks]
            lines.append("| " + " | ".join(cells) + " |")
        totals = " / ".join(f"{run['threads'][k]['total_s']} s ({k}T)" for k in ks)
        lines += ["", f"End to end (Snakemake included): {totals}", ""]
    mem = report["memory"]
    small, large = mem["frames"]
    lines += [f"## Peak RSS {large} frames / {small} frames (target <= 1.2)", "",
              "| step | " + " | ".join(f"{k}T" for k in mem if k != "frames") + " |",
              "|---|" + "---|" * (len(mem) - 1)]
    ks = [k for k in mem if k != "frames"]
    for rule in mem[ks[0]]["steps"]:
        lines.append(f"| {rule} | " + " | ".join(str(mem[k]["steps"].get(rule, "")) for k in ks) + " |")
    lines.append("| **largest step** | " + " | ".join(f"**{mem[k]['peak']}**" for k in ks) + " |")
    return "\n".join(lines) + "\n"


def _get(steps: dict, rule: str, key: str) -> str:
    return str(steps[rule][key]) if rule in steps else ""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--2d", dest="two_d", action="store_true", help="the 2D benchmark (TCYX movie)")
    parser.add_argument("--frames", type=int, nargs="+", help="movie lengths (3D: 10 100; 2D: 50 500)")
    parser.add_argument("--z", type=int, help="z planes (3D; default 40)")
    parser.add_argument("--size", type=int, help="height = width in pixels (3D: 512; 2D: 1024)")
    parser.add_argument("--channels", type=int, default=4, help="channels written (1-5; default 4)")
    parser.add_argument("--threads", type=int, nargs=2, default=[1, 2])
    parser.add_argument("--longest-threads", type=int, nargs="+",
                        help="thread counts for the longest movie only (default: those of --threads)")
    parser.add_argument("--founders", type=int, help="cells at frame 0 (default 40)")
    parser.add_argument("--compression", choices=["none", "zlib"], default="none")
    parser.add_argument("--out", type=Path, default=Path("bench_3d_results"), help="folder for the JSON and table")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary folder goes")
    args = parser.parse_args(argv)
    mode = MODES["2d" if args.two_d else "3d"]
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_3d_") as tmp:
        report = bench(args.frames or mode["frames"], args.threads, Path(tmp), z=args.z or mode["z"],
                       size=args.size or mode["size"], n_channels=args.channels, ndim=2 if args.two_d else 3,
                       time_step_h=mode["time_step_h"], n_founders=args.founders or mode["founders"],
                       compression=None if args.compression == "none" else args.compression,
                       longest_threads=args.longest_threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_3d.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (args.out / "bench_3d.md").write_text(table)
    print(table)
    for k in (k for k in args.threads if k in report["memory"]):
        peak = report["memory"][k]["peak"]
        print(f"peak RSS {report['memory']['frames'][1]} / {report['memory']['frames'][0]} frames, {k} thread(s): "
              f"{peak} (target <= 1.2): {'OK' if peak <= 1.2 else 'FAIL'}")


if __name__ == "__main__":
    main()
