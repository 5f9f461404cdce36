"""Rule lineage: lineage trees, counts per type per frame, fate map and production rates; the
per-cell events and the lineage measures."""
from marrowflow.io import MovieMetadata, read_json, read_table, warn_if_no_cells, write_table
from marrowflow.lineage import (
    EventParams,
    cell_events,
    clone_output,
    commitment_times,
    count_types,
    count_types_per_lineage,
    death_exit_rates,
    fate_by_generation,
    fate_map,
    lineage_markers,
    lineage_table,
    production_rates,
    sister_pairs,
)
from marrowflow.workflow.config import segmentation_channel
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

    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    params = EventParams.from_config(smk.params.lineage)
    markers = params.onset_markers or lineage_markers(smk.params.class_rules, smk.params.transitions,
                                                      meta.channel_names)
    nuclear = meta.channel_names[segmentation_channel(smk.params.nuclear, meta.channel_names)]
    events = cell_events(tracks, read_table(smk.input.thresholds), field_shape=meta.shape_zyx,
                         n_frames=meta.n_frames, nuclear_channel=nuclear, params=params, markers=markers)
    write_table(events, smk.output.events)
    write_table(fate_by_generation(events, classes), smk.output.fate_by_generation)
    write_table(sister_pairs(events), smk.output.sister_pairs)
    write_table(clone_output(tracks, classes), smk.output.clone_output)
    write_table(death_exit_rates(events, tracks, classes), smk.output.death_exit_rates)
    write_table(commitment_times(events, markers), smk.output.commitment_times)


run_step(snakemake, main)  # noqa: F821
