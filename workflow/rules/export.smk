rule export:
    """Tracks as geff (tracks.geff) and cells as AnnData (cells.h5ad), for other tools."""
    input:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
    output:
        geff=directory(f"{RESULTS}/{{sample}}/tracks.geff"),
        h5ad=f"{RESULTS}/{{sample}}/cells.h5ad",
    log:
        "logs/export/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        labels=LABELS,
    script:
        "../scripts/export.py"
