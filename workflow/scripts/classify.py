"""Rule classify: cell type per cell from gates or a model; reviewed types always win."""
from marrowflow.classify.cell_types import ClassificationParams, classify_cells, review_classes
from marrowflow.io import MovieMetadata, read_json, read_table, write_table
from marrowflow.review.apply import apply_type_review
from marrowflow.review.files import load_review
from marrowflow.workflow.step import run_step


def main(smk):
    params = ClassificationParams.from_config(smk.params.classification)
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    cells = read_table(smk.input.cells)
    typed, thresholds = classify_cells(cells, params, channel_names=meta.channel_names)
    if smk.input.review_types:
        typed = apply_type_review(typed, load_review(smk.params.review_dir), classes=review_classes(params))
    write_table(typed, smk.output.cells)
    write_table(thresholds, smk.output.thresholds)


run_step(snakemake, main)  # noqa: F821
