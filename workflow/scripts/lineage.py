"""Rule lineage: lineage trees, counts per type per frame, fate map and production rates."""
from marrowflow.io import read_table, warn_if_no_cells, write_table
from marrowflow.lineage.tables import (
    count_types,
    count_types_per_lineage,
    fate_map,
    lineage_table,
    production_rates,
)
from marrowflow.workflow.step import run_step


def main(smk):
    tracks = read_table(smk.input.tracks)
    classes = list(smk.params.classes)
    warn_if_no_cells(len(tracks), "lineage", "the lineage, counts, fate map and production tables are empty")
    write_table(lineage_table(tracks, classes), smk.output.lineages)
    write_table(count_types(tracks, classes), smk.output.counts)
    write_table(count_types_per_lineage(tracks, classes), smk.output.lineage_counts)
    write_table(fate_map(tracks, classes), smk.output.fate_map)
    rates = production_rates(tracks, classes)
    rates.insert(0, "condition", smk.params.condition)
    write_table(rates, smk.output.production)


run_step(snakemake, main)  # noqa: F821
