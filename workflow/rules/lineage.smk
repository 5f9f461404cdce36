rule lineage:
    """Lineage trees per founder, counts per type per frame, fate map, production rates."""
    input:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
    output:
        lineages=f"{RESULTS}/{{sample}}/lineages.parquet",
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        lineage_counts=f"{RESULTS}/{{sample}}/lineage_counts.csv",
        fate_map=f"{RESULTS}/{{sample}}/fate_map.csv",
        production=f"{RESULTS}/{{sample}}/production_rates.csv",
    log:
        "logs/lineage/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        classes=[c["name"] for c in config["classification"]["classes"]],
        condition=lambda wc: SAMPLES.loc[wc.sample, "condition"],
    script:
        "../scripts/lineage.py"
