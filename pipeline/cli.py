"""The `marrowflow` command: one subcommand per step that makes sense on its own.

To add a subcommand, write `_add_<name>(subparsers)` that builds its parser and sets
`func=<callable(args) -> int>`, and list it in `COMMANDS`. Errors a user can act on
(MarrowflowError) print one clear line and exit with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from marrowflow.errors import ConfigError, InputError, MarrowflowError
from marrowflow.io.tables import read_table, table_format, write_table

if TYPE_CHECKING:  # the classify package loads scikit-learn: imported where a command needs it
    from marrowflow.classify.cell_types import ClassificationParams
    from marrowflow.classify.gates import ClassRule

CELLS_FIX = "give a CSV, TSV or parquet file (.csv, .tsv, .parquet) with one row per cell"


def read_workflow(path: str) -> tuple[list[ClassRule], ClassificationParams]:
    """A gating workflow file -> (rules, classification parameters).

    CSV: SCIMAP's phenotype_workflow.csv (hierarchy mode with 'likely-' names, as SCIMAP). YAML:
    a marrowflow config (its `classification` section), the section itself, or a bare list of
    classes, with the schema's defaults for what it leaves out.
    """
    from marrowflow.classify.cell_types import ClassificationParams
    from marrowflow.classify.gates import read_scimap_workflow, rules_from_config

    p = Path(path)
    if not p.is_file():
        raise InputError(f"Workflow {p} does not exist; give SCIMAP's phenotype_workflow.csv or a YAML file "
                         "with a classification section")
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
        section = doc.get("classification", doc) if isinstance(doc, dict) else {"classes": doc}
        if not isinstance(section, dict) or not isinstance(section.get("classes"), list):
            raise ConfigError(f"{p}: expected a 'classes' list (under 'classification:' or at the top)")
        params = ClassificationParams.from_config({k: v for k, v in section.items() if k != "classes"})
        return rules_from_config(section["classes"], where=f"{p}: classes"), params
    return read_scimap_workflow(p), ClassificationParams(order="hierarchy", likely=True)


def read_gates(path: str) -> pd.DataFrame:
    """SCIMAP manual gates (first column the marker, then one gate column, or one per image)
    -> DataFrame sample, feature, threshold ('all' when a single column serves every image)."""
    p = Path(path)
    try:
        raw = pd.read_csv(p, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"Gates file {p} cannot be read as CSV (marker,gate): {exc}") from exc
    if raw.shape[1] < 2:
        raise InputError(f"Gates file {p}: expected columns marker,gate (SCIMAP manual_gates.csv); "
                         f"found {list(raw.columns)}")
    long = raw.melt(id_vars=raw.columns[0], var_name="sample", value_name="threshold")
    long = long.rename(columns={raw.columns[0]: "feature"}).dropna(subset=["threshold"])
    if raw.shape[1] == 2:
        long["sample"] = "all"
    long["feature"] = long["feature"].astype(str).str.strip()
    return long[["sample", "feature", "threshold"]]


def _run_phenotype(args: argparse.Namespace) -> int:
    from marrowflow.classify.cell_types import phenotype_table

    table = read_table(args.table, fix=CELLS_FIX)
    for out in (args.output, args.thresholds_out):
        if out:
            table_format(out)  # an unknown suffix fails now, not after the work
    rules, cfg = read_workflow(args.workflow)
    if args.gate is not None and args.gates is not None:
        raise ConfigError("give either --gate (one cutoff for tables rescaled to 0..1) or --gates FILE, not both")
    if args.sample_column and args.sample_column not in table.columns:
        raise InputError(f"{args.table} has no column {args.sample_column!r} (--sample-column); "
                         f"columns: {list(table.columns)[:20]}...")
    if args.label in table.columns:
        raise ConfigError(f"{args.table} already has a column {args.label!r}; name the new one with --label NAME")
    if args.truth_column and args.truth_column not in table.columns:
        raise InputError(f"{args.table} has no column {args.truth_column!r} (--truth-column)")
    if args.no_likely:
        cfg = dataclasses.replace(cfg, likely=False)
    groups = table[args.sample_column] if args.sample_column else None
    gates = read_gates(args.gates) if args.gates else None
    labels, _, thresholds = phenotype_table(table, rules, cfg, gate=args.gate, gates=gates,
                                            log=not args.no_log, groups=groups)
    out = table.copy()
    out[args.label] = labels.to_numpy()
    write_table(out, args.output)
    if args.thresholds_out:
        write_table(thresholds, args.thresholds_out)
    print(f"wrote {args.output}: {len(out)} cells, {out[args.label].nunique()} phenotypes")
    if args.truth_column:
        truth = table[args.truth_column].astype(str)
        agree = float((truth.to_numpy() == out[args.label].astype(str).to_numpy()).mean())
        print(f"agreement with {args.truth_column}: {agree:.4f} ({int(round(agree * len(out)))}/{len(out)})")
        pairs = pd.DataFrame({"truth": truth.to_numpy(), "predicted": out[args.label].astype(str).to_numpy()})
        confusion = pairs.value_counts().rename("n").reset_index().sort_values(["truth", "n"], ascending=[True, False])
        print("confusion (truth -> predicted: n):")
        for row in confusion.itertuples(index=False):
            print(f"  {row.truth} -> {row.predicted}: {row.n}{'' if row.truth == row.predicted else '  <- differs'}")
    return 0


def _add_phenotype(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("phenotype", help="apply a gating workflow (SCIMAP CSV or marrowflow YAML) to a cell table",
                       description="Writes TABLE with a phenotype column. Markers are columns named like "
                                   "the workflow's markers (or mean_<marker>).")
    p.add_argument("table", help="cell table, CSV, TSV or parquet; one row per cell, one column per marker")
    p.add_argument("workflow", help="SCIMAP phenotype_workflow.csv or a YAML file with classification.classes")
    p.add_argument("-o", "--output", required=True, help="output table (.csv, .tsv or .parquet)")
    p.add_argument("--gate", type=float, help="one cutoff for every marker (tables rescaled to 0..1: 0.5)")
    p.add_argument("--gates", help="per-marker cutoffs, SCIMAP manual_gates.csv (marker,gate[,per image...])")
    p.add_argument("--no-log", action="store_true",
                   help="--gates are in the table's units (default: log1p units, as SCIMAP's rescale)")
    p.add_argument("--sample-column", help="column naming each cell's image/sample (per-sample thresholds)")
    p.add_argument("--label", default="phenotype", help="name of the new column (default: phenotype)")
    p.add_argument("--no-likely", action="store_true",
                   help="do not prefix 'likely-' to classes whose several pos markers are not all positive")
    p.add_argument("--truth-column", help="column with known phenotypes: print agreement and confusion matrix")
    p.add_argument("--thresholds-out", help="write the cutoffs used (sample, feature, threshold, method)")
    p.set_defaults(func=_run_phenotype)


def _run_train_classifier(args: argparse.Namespace) -> int:
    from marrowflow.classify.model import read_reviewed_types, save_model, train_classifier

    tables, reviews = [], []
    for path in args.cells:
        cells = read_table(path, fix=CELLS_FIX)
        if "sample" not in cells.columns:
            cells = cells.assign(sample=Path(path).parent.name)
        tables.append(cells)
        for sample in cells["sample"].astype(str).unique():
            review = Path(args.reviews) / sample / "cell_types.csv"
            if review.is_file():
                reviews.append(read_reviewed_types(review, sample))
    if not reviews:
        raise InputError(f"no reviewed cell types found under {args.reviews}/<sample>/cell_types.csv (frame, "
                         "label, cell_type) for the samples of the given cells tables; review some cells first "
                         "or point --reviews at the folder that holds the reviews")
    bundle = train_classifier(pd.concat(tables, ignore_index=True), pd.concat(reviews, ignore_index=True),
                              n_estimators=args.n_estimators, cv_folds=args.cv_folds, seed=args.seed)
    save_model(bundle, args.output)
    acc = "n/a" if bundle["cv_accuracy"] is None else f"{bundle['cv_accuracy']:.3f}"
    print(f"wrote {args.output}: {bundle['n_train']} reviewed cells, classes {bundle['classes']}, "
          f"{bundle['cv_folds']}-fold cross-validated accuracy {acc}")
    return 0


def _add_train_classifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-classifier", help="train the random-forest cell-type classifier from reviewed types",
                       description="Joins each cells table to reviews/<sample>/cell_types.csv (frame, label, "
                                   "cell_type) and trains a random forest; use it with classification.method: "
                                   "model and model_path.")
    p.add_argument("cells", nargs="+", help="cells tables (results/<sample>/cells.parquet), several samples")
    p.add_argument("--reviews", default="reviews", help="folder holding <sample>/cell_types.csv (default: reviews)")
    p.add_argument("-o", "--output", required=True, help="model file to write (skops format, .skops)")
    p.add_argument("--n-estimators", type=int, default=200)
    p.add_argument("--cv-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run_train_classifier)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_phenotype, _add_train_classifier]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand in COMMANDS."""
    parser = argparse.ArgumentParser(prog="marrowflow", description="Bone-marrow organoid time-lapse analysis")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point `marrowflow`."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MarrowflowError as exc:
        print(f"marrowflow {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
