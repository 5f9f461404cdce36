"""Rule export: the tracks as a geff graph and the cells as AnnData, both written atomically."""
from marrowflow.export import write_cells_h5ad, write_tracks_geff
from marrowflow.io import MovieMetadata, read_json, read_table
from marrowflow.workflow.step import run_step


def main(smk):
    meta = MovieMetadata.from_dict(read_json(smk.input.metadata))
    tracks = read_table(smk.input.tracks)
    sample = smk.wildcards.sample
    write_tracks_geff(tracks, meta, smk.output.geff, labels_name=smk.params.labels, sample=sample)
    write_cells_h5ad(tracks, meta, smk.output.h5ad, sample=sample)


run_step(snakemake, main)  # noqa: F821
