rule plots:
    """Per-sample figures: counts over time, lineage trees, marker thresholds, fate by
    generation, sister pairs."""
    input:
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        thresholds=f"{RESULTS}/{{sample}}/thresholds.csv",
        events=f"{RESULTS}/{{sample}}/cell_events.parquet",
        fate_by_generation=f"{RESULTS}/{{sample}}/fate_by_generation.csv",
        sister_pairs=f"{RESULTS}/{{sample}}/sister_pairs.csv",
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
        fate_by_generation=report(
            f"{RESULTS}/{{sample}}/report/fate_by_generation.png",
            caption="../report/fate_by_generation.rst",
            category="Samples",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "fate by generation"},
        ),
        sister_pairs=report(
            f"{RESULTS}/{{sample}}/report/sister_pairs.png",
            caption="../report/sister_pairs.rst",
            category="Samples",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "sister pairs"},
        ),
    log:
        "logs/plots/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        classes=[c["name"] for c in config["classification"]["classes"]],
        lineage=config["lineage"],
        class_rules=config["classification"]["classes"],
        transitions=config["classification"]["track_vote"]["transitions"],
    script:
        "../scripts/plots.py"
