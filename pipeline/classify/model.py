"""A random-forest cell-type classifier trained from reviewed cell types.

Training data: the cells tables of several samples joined to `reviews/<sample>/cell_types.csv`
(frame, label, cell_type) on (sample, frame, label). Features: every `mean_<channel>` as
log(intensity / the sample's median) (so brightness differences between samples cancel), plus the
shape columns present (area_um2 or area_px, eccentricity, solidity). The saved bundle holds the
model, its feature list, the classes, the cross-validated accuracy and the versions of marrowflow,
scikit-learn and numpy.

Model files are `skops.io` archives (`.skops`): a zip of JSON and numpy arrays that loading rebuilds
without running code from the file. skops itself trusts numpy, builtins and scikit-learn's
estimators; `load_model` adds only the types in `TRUSTED_TYPES` (a decision tree's arrays) and
refuses a file that holds any other type, so a model received from someone else is data, not
code. Files of the older pickle format (joblib) run whatever code they hold when loaded: they are
read only with `trust=True` (the config's `classification.model_trust`).
"""

from __future__ import annotations

import dataclasses
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

import marrowflow
from marrowflow.errors import ConfigError, InputError
from marrowflow.io import atomic_write, write_json
from marrowflow.schema import as_params, config_section, schema_fields

REVIEW_COLUMNS = ("frame", "label", "cell_type")
MODEL_SUFFIX = ".skops"
# types a model file may hold beyond those skops trusts itself (numpy, builtins, sklearn estimators)
TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)

_schema = schema_fields("training.classifier")


@dataclass(frozen=True)
class ClassifierTrainingParams:
    """Settings of `train_classifier` (the config's `training.classifier`; defaults from the
    schema). `output` is the model file the workflow writes."""

    SECTION: ClassVar[str] = "training.classifier"

    output: str = _schema("output")
    n_estimators: int = _schema("n_estimators")
    seed: int = _schema("seed")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ClassifierTrainingParams:
        """From the `training.classifier` section; unknown keys raise ConfigError."""
        return config_section(cls, section)


def read_reviewed_types(path: str | Path, sample: str) -> pd.DataFrame:
    """Read reviews/<sample>/cell_types.csv -> DataFrame sample, frame, label, cell_type."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"Reviewed cell types {path} cannot be read as CSV: {exc}") from exc
    missing = [c for c in REVIEW_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"Reviewed cell types {path} lack column(s) {missing}; expected frame, label, "
                         f"cell_type, found {list(table.columns)}. Save the review again or restore those columns")
    out = table[list(REVIEW_COLUMNS)].copy()
    out.insert(0, "sample", sample)
    return out


def model_features(cells: pd.DataFrame) -> pd.DataFrame:
    """The classifier's input features for every cell (see the module docstring)."""
    groups = cells["sample"] if "sample" in cells.columns else pd.Series("all", index=cells.index)
    out = {}
    for col in sorted(c for c in cells.columns if c.startswith("mean_")):
        x = cells[col].astype(float).clip(lower=0)
        med = x.groupby(groups).transform("median")
        scale = med.where(med > 0, x.groupby(groups).transform("mean")).where(lambda s: s > 0, 1.0)
        out[col] = np.log((x + 1e-3 * scale) / scale)
    area = next((c for c in ("area_um2", "area_px") if c in cells.columns and cells[c].notna().any()), None)
    for col in [area, "eccentricity", "solidity"]:
        if col is not None and col in cells.columns:
            out[col] = cells[col].astype(float)
    return pd.DataFrame(out, index=cells.index)


def training_rows(cells: pd.DataFrame, reviewed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(positions in `cells`, reviewed type) of every cell a reviewer typed.

    Joined on sample, frame, label (frame, label when either table lacks `sample`).
    """
    keys = ["sample", "frame", "label"] if "sample" in cells.columns and "sample" in reviewed.columns \
        else ["frame", "label"]
    left = cells[keys].reset_index(drop=True).assign(_pos=np.arange(len(cells)))
    rev = reviewed[keys + ["cell_type"]].drop_duplicates(keys, keep="last")
    joined = left.merge(rev, on=keys, how="inner").sort_values("_pos")
    return joined["_pos"].to_numpy(), joined["cell_type"].astype(str).to_numpy()


def train_classifier(cells: pd.DataFrame, reviewed: pd.DataFrame,
                     params: ClassifierTrainingParams | Mapping[str, Any] | None = None, *, cv_folds: int = 5,
                     **changes: Any) -> dict:
    """Train a random forest on reviewed cells; return the bundle to save with `save_model`.

    `params` (default: the defaults of `ClassifierTrainingParams`) with the keyword `changes`
    applied (e.g. `n_estimators=50`). Bundle keys: model, features, classes, cv_accuracy (mean of
    stratified k-fold, None when a class has too few cells), cv_folds, n_train, versions.
    """
    p = dataclasses.replace(as_params(ClassifierTrainingParams, params), **changes)
    rows, y = training_rows(cells, reviewed)
    if len(rows) == 0:
        raise InputError("no reviewed cell matches a cell of the cells tables (joined on sample, frame, "
                         "label); check that the reviews belong to these samples")
    X = model_features(cells).iloc[rows].fillna(0.0)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise InputError(f"reviewed cells hold a single type {classes.tolist()}; a classifier needs at least two")
    # scikit-learn takes ~0.7 s to load: imported where a model is made or read, so that the steps
    # that import this module but use no model (every classify, track and plots job) start faster
    import sklearn
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    forest = RandomForestClassifier(n_estimators=p.n_estimators, random_state=p.seed, n_jobs=1,
                                    class_weight="balanced")
    folds = int(min(cv_folds, counts.min()))
    cv_accuracy = None
    if folds >= 2:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=p.seed)
        cv_accuracy = float(cross_val_score(forest, X.to_numpy(), y, cv=splitter).mean())
    else:
        warnings.warn(f"too few reviewed cells per type ({dict(zip(classes, counts))}) for cross-validation",
                      stacklevel=2)
    forest.fit(X.to_numpy(), y)
    return {"model": forest, "features": list(X.columns), "classes": classes.tolist(),
            "cv_accuracy": cv_accuracy, "cv_folds": folds, "n_train": int(len(y)),
            "versions": {"marrowflow": marrowflow.__version__, "scikit-learn": sklearn.__version__,
                         "numpy": np.__version__}}


def save_model(bundle: dict, path: str | Path) -> None:
    """Write the bundle as a skops archive (atomically), and its description (everything but the
    model) as JSON next to it (`<path>.json`) for people and provenance."""
    import skops.io as sio  # here, not at import: it takes seconds to load

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        sio.dump(bundle, tmp, compression=zipfile.ZIP_DEFLATED)
    write_json({k: v for k, v in bundle.items() if k != "model"}, path.with_name(f"{path.name}.json"))


def load_model(path: str | Path, *, trust: bool = False) -> dict:
    """Read a bundle written by `save_model`; warns when scikit-learn's version differs.

    A skops file holding a type outside skops' defaults and `TRUSTED_TYPES` is refused
    (InputError). A pickle/joblib file (older marrowflow) runs code when loaded: it is read only
    with `trust` (`classification.model_trust: true`), else refused with an InputError.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"classification.model_path {path} does not exist; train a model with "
                          "`marrowflow train-classifier` or set method: gates")
    import sklearn  # here, not at import (see train_classifier)
    from sklearn.ensemble import RandomForestClassifier

    bundle = _load_skops(path) if zipfile.is_zipfile(path) else _load_pickle(path, trust)
    if not isinstance(bundle, dict) or not {"model", "features"} <= set(bundle) \
            or not isinstance(bundle["model"], RandomForestClassifier):
        raise InputError(f"{path} is not a marrowflow classifier (expected a dict with a random forest as model "
                         "and its features). Fix: point classification.model_path at a file written by "
                         "`marrowflow train-classifier` or the train_classifier rule")
    saved = bundle.get("versions", {}).get("scikit-learn")
    if saved != sklearn.__version__:
        warnings.warn(f"{path} was trained with scikit-learn {saved}, this is {sklearn.__version__}", stacklevel=2)
    return bundle


def _load_skops(path: Path) -> Any:
    import skops.io as sio  # here, not at import: it takes seconds to load

    try:
        untrusted = sio.get_untrusted_types(file=path)
        extra = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if extra:
            raise InputError(f"{path}: the model file holds type(s) {extra} that marrowflow does not trust (a "
                             f"cell-type model holds a random forest only; trusted beyond skops' defaults: "
                             f"{list(TRUSTED_TYPES)}). Loading them could run code. Fix: retrain the model with "
                             "`marrowflow train-classifier` (or the train_classifier rule) instead of using this file")
        return sio.load(path, trusted=list(TRUSTED_TYPES))
    except InputError:
        raise
    except Exception as exc:  # a damaged or foreign archive: skops raises many kinds
        raise InputError(f"{path}: cannot be read as a skops model file ({type(exc).__name__}: {exc}). Fix: "
                         "retrain the model with `marrowflow train-classifier`") from exc


def _load_pickle(path: Path, trust: bool) -> Any:
    if not trust:
        raise InputError(f"{path} is not a skops model file; it looks like a pickle/joblib file (the format of "
                         "older marrowflow versions). Loading a pickle runs any code it holds, so a file received "
                         "from someone else can do anything your account can. Fix: retrain the model with "
                         f"`marrowflow train-classifier` (it writes {MODEL_SUFFIX} files), or, only for a file you "
                         "made yourself, set classification.model_trust: true")
    import joblib  # only here: a trusted pickle of an older version

    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises anything the file's code raises
        raise InputError(f"{path}: cannot be read as a joblib/pickle model file ({type(exc).__name__}: {exc}). "
                         "Fix: retrain the model with `marrowflow train-classifier`") from exc


def predict_types(bundle: dict, cells: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(cell_type, type_score = the forest's probability of that type) for every cell."""
    X = model_features(cells)
    missing = [f for f in bundle["features"] if f not in X.columns]
    if missing:
        raise InputError(f"the cells table lacks feature(s) {missing} that the classifier was trained on; "
                         "train it on samples with the same channels or use method: gates")
    proba = bundle["model"].predict_proba(X[bundle["features"]].fillna(0.0).to_numpy())
    best = proba.argmax(axis=1)
    labels = np.asarray(bundle["model"].classes_, dtype=object)[best]
    return (pd.Series(labels, index=cells.index, name="cell_type"),
            pd.Series(proba[np.arange(len(best)), best], index=cells.index, name="type_score"))
