rule plots:
    """Per-sample figures: counts over time, lineage trees, marker thresholds."""
    input:
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        thresholds=f"{RESULTS}/{{sample}}/thresholds.csv",
    output:
        counts=f"{RESULTS}/{{sample}}/report/counts.png",
        lineage_tree=f"{RESULTS}/{{sample}}/report/lineage_tree.png",
        thresholds=f"{RESULTS}/{{sample}}/report/marker_thresholds.png",
    params:
        classes=[c["name"] for c in config["classification"]["classes"]],
    log:
        "logs/plots/{sample}.log",
    script:
        "../scripts/plots.py"
