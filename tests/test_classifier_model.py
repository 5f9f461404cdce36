"""Random-forest classifier trained from reviewed types on synthetic features."""

import json
import pickle
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest

from marrowflow.classify.cell_types import classify_cells
from marrowflow.classify.model import (
    MODEL_SUFFIX,
    ClassifierTrainingParams,
    load_model,
    model_features,
    predict_types,
    read_reviewed_types,
    save_model,
    train_classifier,
)
from marrowflow.errors import ConfigError, InputError
from marrowflow.review.apply import apply_type_review
from marrowflow.review.files import Review

from test_classify import CHANNELS, SIMPLE, make_cells


def _reviews(cells, truth, every=3):
    pick = np.arange(0, len(cells), every)
    return pd.DataFrame({"sample": cells["sample"].to_numpy()[pick], "frame": cells["frame"].to_numpy()[pick],
                         "label": cells["label"].to_numpy()[pick], "cell_type": truth[pick]})


def test_train_save_load_predict(tmp_path):
    cells, truth = make_cells(n=300, samples=("a", "b"), brightness=(1.0, 3.0), seed=4)
    bundle = train_classifier(cells, _reviews(cells, truth), n_estimators=50, cv_folds=3)
    assert bundle["cv_accuracy"] > 0.95 and bundle["cv_folds"] == 3
    assert bundle["n_train"] == 200
    assert set(bundle["classes"]) == set(truth)
    assert "mean_CD34" in bundle["features"] and {"scikit-learn", "numpy", "marrowflow"} <= set(bundle["versions"])
    path = tmp_path / f"model{MODEL_SUFFIX}"
    save_model(bundle, path)
    info = json.loads((tmp_path / f"model{MODEL_SUFFIX}.json").read_text())
    assert info["cv_accuracy"] == bundle["cv_accuracy"] and info["features"] == bundle["features"]
    # a new sample, 6x brighter than any seen: features relative to the sample's median carry over
    new, new_truth = make_cells(n=200, samples=("c",), brightness=(6.0,), seed=5)
    labels, score = predict_types(load_model(path), new)
    assert (labels.to_numpy() == new_truth).mean() > 0.95
    assert score.between(0, 1).all()


def test_classify_with_model_and_reviews(tmp_path):
    cells, truth = make_cells(n=200, seed=6)
    path = tmp_path / "m.skops"
    save_model(train_classifier(cells, _reviews(cells, truth, every=2), n_estimators=30, cv_folds=3), path)
    reviewed = pd.DataFrame({"frame": [cells.frame[1]], "label": [cells.label[1]], "cell_type": ["odd"]})
    typed, _ = classify_cells(cells, {**SIMPLE, "method": "model", "model_path": str(path)},
                              channel_names=CHANNELS)
    typed = apply_type_review(typed, Review(cell_types=reviewed))
    assert (typed["cell_type"].to_numpy()[2:] == truth[2:]).mean() > 0.97
    assert typed.loc[1, "cell_type"] == "odd" and typed.loc[1, "type_source"] == "review"
    assert (typed.drop(index=1)["type_source"] == "model").all()
    with pytest.raises(ConfigError, match="model_path"):
        classify_cells(cells, {"method": "model"}, channel_names=CHANNELS)
    with pytest.raises(InputError, match="mean_MPO"):
        predict_types(load_model(path), cells.drop(columns=["mean_MPO"]))


def test_training_errors_and_review_reader(tmp_path):
    cells, truth = make_cells(n=30)
    with pytest.raises(InputError, match="no reviewed cell"):
        train_classifier(cells, pd.DataFrame({"sample": ["zz"], "frame": [0], "label": [1], "cell_type": ["x"]}))
    one = _reviews(cells, np.full(len(cells), "erythroid"))
    with pytest.raises(InputError, match="two"):
        train_classifier(cells, one)
    csv = tmp_path / "cell_types.csv"
    csv.write_text("frame,label,cell_type\n0,1,erythroid\n")
    assert read_reviewed_types(csv, "s1").to_dict("records") == [
        {"sample": "s1", "frame": 0, "label": 1, "cell_type": "erythroid"}]
    csv.write_text("frame,cell\n0,1\n")
    with pytest.raises(InputError, match="label"):
        read_reviewed_types(csv, "s1")


def test_model_features_relative_to_sample_median():
    cells, _ = make_cells(n=100, samples=("a", "b"), brightness=(1.0, 5.0), seed=7)
    f = model_features(cells)
    med = f.groupby(cells["sample"])["mean_CD34"].median()
    assert np.allclose(med.to_numpy(), 0.0, atol=0.01)


def test_training_params_object_keywords_and_mapping_agree():
    cells, truth = make_cells(n=90, seed=8)
    reviews = _reviews(cells, truth)
    by_object = train_classifier(cells, reviews, ClassifierTrainingParams(n_estimators=20, seed=3), cv_folds=3)
    by_mapping = train_classifier(cells, reviews, {"n_estimators": 20, "seed": 3}, cv_folds=3)
    by_keywords = train_classifier(cells, reviews, n_estimators=20, seed=3, cv_folds=3)
    assert by_object["cv_accuracy"] == by_mapping["cv_accuracy"] == by_keywords["cv_accuracy"]
    assert by_object["model"].n_estimators == 20 and by_object["model"].random_state == 3
    assert train_classifier(cells, reviews, cv_folds=3)["model"].n_estimators == ClassifierTrainingParams().n_estimators


class _WritesMarker:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _small_bundle(seed=9):
    cells, truth = make_cells(n=60, seed=seed)
    return cells, train_classifier(cells, _reviews(cells, truth, every=2), n_estimators=10, cv_folds=2)


def test_saved_model_round_trips_and_predicts_the_same(tmp_path):
    cells, bundle = _small_bundle()
    path = tmp_path / "m.skops"
    save_model(bundle, path)
    assert zipfile.is_zipfile(path)  # a skops archive, no pickle
    back = load_model(path)
    assert {k: v for k, v in back.items() if k != "model"} == {k: v for k, v in bundle.items() if k != "model"}
    for a, b in zip(predict_types(bundle, cells), predict_types(back, cells)):
        assert a.equals(b)


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.joblib"
    path.write_bytes(pickle.dumps({"model": _WritesMarker(marker), "features": []}))
    with pytest.raises(InputError, match=r"evil\.joblib.*runs any code.*model_trust: true"):
        load_model(path)
    cells, _ = make_cells(n=20)
    with pytest.raises(InputError, match="model_trust"):
        classify_cells(cells, {**SIMPLE, "method": "model", "model_path": str(path)}, channel_names=CHANNELS)
    assert not marker.exists()


def test_an_old_joblib_model_loads_only_with_the_trust_setting(tmp_path):
    cells, bundle = _small_bundle()
    path = tmp_path / "old.joblib"
    joblib.dump(bundle, path)  # harmless: a model saved by an older marrowflow
    with pytest.raises(InputError, match="model_trust"):
        load_model(path)
    labels, _ = predict_types(load_model(path, trust=True), cells)
    assert labels.equals(predict_types(bundle, cells)[0])
    typed, _ = classify_cells(cells, {**SIMPLE, "method": "model", "model_path": str(path), "model_trust": True},
                              channel_names=CHANNELS)
    assert (typed["type_source"] == "model").all()


def test_a_skops_file_with_an_untrusted_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import FunctionTransformer

    _, bundle = _small_bundle()
    path = tmp_path / "m.skops"
    sio.dump({**bundle, "extra": FunctionTransformer(func=json.loads)}, path)  # a function: could run code
    with pytest.raises(InputError, match=r"m\.skops.*json\.loads.*does not trust.*retrain"):
        load_model(path)
    sio.dump({**bundle, "model": FunctionTransformer()}, path)  # trusted by skops, but no forest
    with pytest.raises(InputError, match="not a marrowflow classifier"):
        load_model(path)


def test_a_damaged_model_file_names_the_file(tmp_path):
    _, bundle = _small_bundle()
    good, path = tmp_path / "good.skops", tmp_path / "m.skops"
    save_model(bundle, good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, "{not json" if name == "schema.json" else src.read(name))
    with pytest.raises(InputError, match=r"m\.skops"):
        load_model(path)
