rule plots:
    """Per-sample figures: counts over time, lineage trees, marker thresholds."""
    input:
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        thresholds=f"{RESULTS}/{{sample}}/thresholds.csv",
    output:
        counts=report(
            f"{RESULTS}/{{sample}}/report/counts.png",
            caption="../report/counts.rst",
            category="Samples",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "cell counts"},
        ),
        lineage_tree=report(
            f"{RESULTS}/{{sample}}/report/lineage_tree.png",
            caption="../report/lineage_tree.rst",
            category="Samples",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "lineage trees"},
        ),
        thresholds=report(
            f"{RESULTS}/{{sample}}/report/marker_thresholds.png",
            caption="../report/marker_thresholds.rst",
            category="Samples",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "marker thresholds"},
        ),
    log:
        "logs/plots/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        classes=[c["name"] for c in config["classification"]["classes"]],
    script:
        "../scripts/plots.py"
