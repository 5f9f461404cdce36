"""Rule train_classifier: a random forest from the reviewed cell types of every sample."""
import logging

import pandas as pd

from marrowflow.classify.model import ClassifierTrainingParams, read_reviewed_types, save_model, train_classifier
from marrowflow.errors import InputError
from marrowflow.io import read_table
from marrowflow.workflow.step import run_step


def main(smk):
    params = ClassifierTrainingParams.from_config(smk.params.training)
    if not smk.input.cells:
        raise InputError(f"no reviewed cell types under {smk.params.reviews}/<sample>/cell_types.csv; "
                         "review some cells in napari first")
    cells = pd.concat([read_table(p) for p in smk.input.cells], ignore_index=True)
    reviewed = pd.concat([read_reviewed_types(p, s) for p, s in zip(smk.input.types, smk.params.samples)],
                         ignore_index=True)
    bundle = train_classifier(cells, reviewed, params)
    logging.getLogger("marrowflow").info("trained on %d reviewed cells, classes %s, cross-validated accuracy %s",
                                         bundle["n_train"], bundle["classes"], bundle["cv_accuracy"])
    save_model(bundle, smk.output.model)


run_step(snakemake, main)  # noqa: F821
