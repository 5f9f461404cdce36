rule summary:
    """Counts of every sample in one table; per condition, estimates over replicate organoids with
    bootstrap intervals, permutation tests between conditions, and their plots."""
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
        estimates=f"{RESULTS}/summary/condition_estimates.csv",
        tests=f"{RESULTS}/summary/condition_tests.csv",
        estimates_plot=report(
            f"{RESULTS}/summary/condition_estimates.png",
            caption="../report/condition_estimates.rst",
            category="Summary",
            labels={"figure": "condition estimates"},
        ),
    log:
        "logs/summary/summary.log",
    conda:
        "../envs/core.yaml"
    params:
        samples=list(SAMPLES.index),
        conditions=list(SAMPLES["condition"]),
        replicates=list(SAMPLES["replicate"]),
        batches=list(SAMPLES["batch"]),
        classes=[c["name"] for c in config["classification"]["classes"]],
        uncertainty=config["uncertainty"],
    script:
        "../scripts/summary.py"
