rule evaluate:
    """CTC measures (py-ctcmetrics), SEG/F1, traccuracy's division and complete-track measures from
    whatever ground truth the sample has; for synthetic samples, the per-type count error."""
    input:
        ctc=f"{RESULTS}/{{sample}}/ctc",
        labels=f"{RESULTS}/{{sample}}/{LABELS}",
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        geff=f"{RESULTS}/{{sample}}/tracks.geff",
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
    params:
        evaluation=config["evaluation"],
    script:
        "../scripts/evaluate.py"
