rule evaluate:
    """CTC measures (py-ctcmetrics), SEG/F1, traccuracy's division and complete-track measures from
    whatever ground truth the sample has; for synthetic samples, the per-type count error; on
    reviewed label frames (reviews/<sample>/) that tuning did not use, the segmentation's accuracy."""
    input:
        ctc=f"{RESULTS}/{{sample}}/ctc",
        labels=f"{RESULTS}/{{sample}}/{LABELS}",
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        geff=f"{RESULTS}/{{sample}}/tracks.geff",
        gt=lambda wc: SAMPLES.loc[wc.sample, "ground_truth"] or [],
        # reviewed label frames: the segmentation scored on those tuning did not use
        review_labels=review_file("labels.tif"),
        review_frames=review_file("reviewed_frames.txt"),
    output:
        report(
            f"{RESULTS}/{{sample}}/evaluation.json",
            caption="../report/evaluation.rst",
            category="Evaluation",
            labels={"sample": "{sample}", "table": "evaluation"},
        ),
    log:
        "logs/evaluate/{sample}.log",
    threads: SAMPLE_THREADS
    conda:
        "../envs/evaluate.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * 2 ** (attempt - 1),
        # SLURM: one CPU per thread (the profiles' default-resources ask for 1)
        cpus_per_task=lambda wc, threads: threads,
    params:
        evaluation=config["evaluation"],
        # a tuned preset's file names the frames it was tuned on (left out of the scoring)
        preset=config["segmentation"].get("classic", {}).get("preset"),
    script:
        "../scripts/evaluate.py"
