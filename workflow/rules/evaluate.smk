rule evaluate:
    """CTC measures (py-ctcmetrics) and, for synthetic samples, the per-type count error."""
    input:
        ctc=f"{RESULTS}/{{sample}}/ctc",
        labels=f"{RESULTS}/{{sample}}/labels.tif",
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        gt=lambda wc: SAMPLES.loc[wc.sample, "ground_truth"],
    output:
        f"{RESULTS}/{{sample}}/evaluation.json",
    log:
        "logs/evaluate/{sample}.log",
    script:
        "../scripts/evaluate.py"
