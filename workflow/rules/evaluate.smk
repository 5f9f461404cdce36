rule evaluate:
    """CTC measures (py-ctcmetrics) and, for synthetic samples, the per-type count error."""
    input:
        ctc=f"{RESULTS}/{{sample}}/ctc",
        labels=f"{RESULTS}/{{sample}}/labels.tif",
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        gt=lambda wc: SAMPLES.loc[wc.sample, "ground_truth"],
    output:
        report(
            f"{RESULTS}/{{sample}}/evaluation.json",
            caption="../report/evaluation.rst",
            category="Evaluation",
            labels={"sample": "{sample}", "table": "evaluation"},
        ),
    log:
        "logs/evaluate/{sample}.log",
    conda:
        "../envs/evaluate.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * 2 ** (attempt - 1),
    script:
        "../scripts/evaluate.py"
