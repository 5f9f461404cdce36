rule measure:
    """Per-cell morphology and background-corrected mean intensity per channel, frame by frame
    (reviewed labels win)."""
    input:
        movie=sample_path,
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        labels=f"{RESULTS}/{{sample}}/{LABELS}",
        review_labels=review_file("labels.tif"),
        review_frames=review_file("reviewed_frames.txt"),
    output:
        f"{RESULTS}/{{sample}}/cells.parquet",
    log:
        "logs/measure/{sample}.log",
    threads: SAMPLE_THREADS
    conda:
        "../envs/core.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * 2 ** (attempt - 1),
        # SLURM: one CPU per thread (the profiles' default-resources ask for 1)
        cpus_per_task=lambda wc, threads: threads,
        runtime=lambda wc, input: int(10 + 0.01 * input.size_mb),
    params:
        review_dir=lambda wc: f"{REVIEWS}/{wc.sample}",
        measure=config["measure"],
    script:
        "../scripts/measure.py"
