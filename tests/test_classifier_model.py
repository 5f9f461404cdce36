"""Random-forest classifier trained from reviewed types on synthetic features."""

import json

import numpy as np
import pandas as pd
import pytest

from marrowflow.classify.cell_types import classify_cells
from marrowflow.classify.model import (
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
    path = tmp_path / "model.joblib"
    save_model(bundle, path)
    info = json.loads((tmp_path / "model.joblib.json").read_text())
    assert info["cv_accuracy"] == bundle["cv_accuracy"] and info["features"] == bundle["features"]
    # a new sample, 6x brighter than any seen: features relative to the sample's median carry over
    new, new_truth = make_cells(n=200, samples=("c",), brightness=(6.0,), seed=5)
    labels, score = predict_types(load_model(path), new)
    assert (labels.to_numpy() == new_truth).mean() > 0.95
    assert score.between(0, 1).all()


def test_classify_with_model_and_reviews(tmp_path):
    cells, truth = make_cells(n=200, seed=6)
    path = tmp_path / "m.joblib"
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
