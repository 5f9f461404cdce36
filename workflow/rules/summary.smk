rule summary:
    """Counts of every sample in one table, and counts per condition over time."""
    input:
        counts=expand(f"{RESULTS}/{{sample}}/counts.csv", sample=SAMPLES.index),
        production=expand(
            f"{RESULTS}/{{sample}}/production_rates.csv", sample=SAMPLES.index
        ),
    output:
        counts=f"{RESULTS}/summary/counts.csv",
        plot=report(
            f"{RESULTS}/summary/counts_by_condition.png",
            caption="../report/summary_plot.rst",
            category="Summary",
            labels={"figure": "counts by condition"},
        ),
        production=f"{RESULTS}/summary/production_rates.csv",
        production_plot=report(
            f"{RESULTS}/summary/production_rates.png",
            caption="../report/production_rates.rst",
            category="Summary",
            labels={"figure": "production rates"},
        ),
    log:
        "logs/summary/summary.log",
    conda:
        "../envs/core.yaml"
    params:
        samples=list(SAMPLES.index),
        conditions=list(SAMPLES["condition"]),
        classes=[c["name"] for c in config["classification"]["classes"]],
    script:
        "../scripts/summary.py"
