"""Write synthetic dense colonies (marrowflow.synthetic_colony) as Cell Tracking Challenge folders.

One folder per variant under --out, in the layout of the public CTC data (and of ../shared/data):
`<out>/<name>/01/tNNN.tif`, `<out>/<name>/01_GT/TRA/man_trackNNN.tif + man_track.txt`,
`<out>/<name>/01_GT/SEG/man_segNNN.tif`, plus `<out>/<name>/colony.json` (the parameters, the
nominal pixel size 1 µm and time step 1 h, and the counts). Variants: the three density presets
(round cells), and dense rods, dense with random-walk stage drift, dense rods with constant drift.
For `benchmarks/bench_ctc_tracking.py` (its --data pointed at --out). Use one seed to choose
parameters and another to report figures: a figure from the seed it was tuned on says nothing.

    .venv/bin/python benchmarks/make_colonies.py [--out DIR] [--seed N] [--variants NAME ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from marrowflow.io import write_json
from marrowflow.synthetic_colony import colony_preset, make_colony, params_dict, write_colony_ctc

VARIANTS = {
    "colony-sparse": ("sparse", {}),
    "colony-medium": ("medium", {}),
    "colony-dense": ("dense", {}),
    "colony-dense-rod": ("dense", {"shape": "rod"}),
    "colony-dense-drift": ("dense", {"drift_px_per_frame": 1.5}),
    "colony-dense-rod-drift": ("dense", {"shape": "rod", "drift_px_per_frame": (0.8, -0.5)}),
}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/marrowflow_colonies"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args(argv)
    rows = []
    for name in args.variants:
        preset, overrides = VARIANTS[name]
        colony = make_colony(colony_preset(preset, **overrides, seed=args.seed))
        write_colony_ctc(colony, args.out / name)
        tracks = colony.tracks
        row = {"name": name, "preset": preset, "seed": args.seed, "pixel_size_um": 1.0, "time_step_h": 1.0,
               "n_frames": int(colony.labels.shape[0]), "n_tracks": len(tracks),
               "n_divisions": int(tracks.loc[tracks["parent"] > 0, "parent"].nunique()),
               "n_detections": int((tracks["end"] - tracks["begin"] + 1).sum()),
               "params": params_dict(colony.params)}
        write_json(row, args.out / name / "colony.json")
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "params"}), flush=True)
    return rows


if __name__ == "__main__":
    main()
