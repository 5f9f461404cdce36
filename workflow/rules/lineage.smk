rule lineage:
    """Lineage trees per founder, counts per type per frame, fate map, production rates; per-cell
    events (births, ends, marker onsets) and the lineage measures built on them."""
    input:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        thresholds=f"{RESULTS}/{{sample}}/thresholds.csv",
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
    output:
        lineages=f"{RESULTS}/{{sample}}/lineages.parquet",
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        lineage_counts=f"{RESULTS}/{{sample}}/lineage_counts.csv",
        fate_map=f"{RESULTS}/{{sample}}/fate_map.csv",
        production=f"{RESULTS}/{{sample}}/production_rates.csv",
        events=f"{RESULTS}/{{sample}}/cell_events.parquet",
        fate_by_generation=f"{RESULTS}/{{sample}}/fate_by_generation.csv",
        sister_pairs=f"{RESULTS}/{{sample}}/sister_pairs.csv",
        clone_output=f"{RESULTS}/{{sample}}/clone_output.csv",
        death_exit_rates=f"{RESULTS}/{{sample}}/death_exit_rates.csv",
        commitment_times=f"{RESULTS}/{{sample}}/commitment_times.csv",
    log:
        "logs/lineage/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        classes=[c["name"] for c in config["classification"]["classes"]],
        condition=lambda wc: SAMPLES.loc[wc.sample, "condition"],
        lineage=config["lineage"],
        class_rules=config["classification"]["classes"],
        transitions=config["classification"]["track_vote"]["transitions"],
        nuclear={
            "segmentation": {"channel": config["segmentation"].get("channel")},
            "channels": config["channels"],
        },
    script:
        "../scripts/lineage.py"
