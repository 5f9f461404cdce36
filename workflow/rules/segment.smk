from marrowflow.io.given_labels import label_inputs


rule segment:
    """Segment every frame (config key `segmentation`) into a uint32 label stack, or gather the
    frame chunks segmented by separate jobs (config key `jobs`); a sample with its own labels
    (sample sheet column `labels`, docs/own-labels.md) gets those instead. segmentation.json
    records the parameters used and, with preset auto, what was estimated from the movie."""
    input:
        movie=sample_path,
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        # a sample with its own labels (sheet column `labels`) is not segmented: its label files instead
        chunks=lambda wc: [] if SAMPLES.loc[wc.sample, "labels"] else segment_chunks(wc),
        model=lambda wc: (
            [] if SAMPLES.loc[wc.sample, "labels"] else segmentation_model(wc)
        ),
        labels=lambda wc: label_inputs(SAMPLES.loc[wc.sample, "labels"]),
    output:
        labels_output(f"{RESULTS}/{{sample}}/{LABELS}"),
        # what the segmentation assumed (preset auto: the movie's estimates) and used
        record=report(
            f"{RESULTS}/{{sample}}/segmentation.json",
            caption="../report/segmentation.rst",
            category="Segmentation",
            labels={"sample": "{sample}", "table": "segmentation"},
        ),
    log:
        "logs/segment/{sample}.log",
    threads: SAMPLE_THREADS
    conda:
        "../envs/segment.yaml"
    resources:
        # streamed frame by frame: memory does not grow with the movie; runtime does
        mem_mb=lambda wc, attempt: (
            2000 if config["segmentation"]["backend"] == "classic" else 6000
        )
        * 2 ** (attempt - 1),
        # SLURM: one CPU per thread (the profiles' default-resources ask for 1)
        cpus_per_task=lambda wc, threads: threads,
        runtime=lambda wc, input: int(
            10
            + (0.01 if config["segmentation"]["backend"] == "classic" else 0.05)
            * input.size_mb
        ),
    params:
        # a sample with its own labels does not rerun when the segmentation settings change
        segmentation=lambda wc: {} if SAMPLES.loc[wc.sample, "labels"] else SEGMENTATION,
        channels=config["channels"],
        labels=lambda wc: SAMPLES.loc[wc.sample, "labels"],
    script:
        "../scripts/segment.py"


rule segment_chunk:
    """Segment frames start..stop-1 of a movie (one job of a split segmentation)."""
    input:
        movie=sample_path,
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        model=segmentation_model,
    output:
        temp(f"{RESULTS}/{{sample}}/chunks/labels_{{start}}-{{stop}}.tif"),
    log:
        "logs/segment/{sample}_{start}-{stop}.log",
    threads: SAMPLE_THREADS
    wildcard_constraints:
        start=r"\d+",
        stop=r"\d+",
    conda:
        "../envs/segment.yaml"
    resources:
        # streamed frame by frame: memory does not grow with the movie; runtime does
        mem_mb=lambda wc, attempt: (
            2000 if config["segmentation"]["backend"] == "classic" else 6000
        )
        * 2 ** (attempt - 1),
        # SLURM: one CPU per thread (the profiles' default-resources ask for 1)
        cpus_per_task=lambda wc, threads: threads,
        runtime=lambda wc, input: int(
            10
            + (0.01 if config["segmentation"]["backend"] == "classic" else 0.05)
            * input.size_mb
        ),
    params:
        segmentation=SEGMENTATION,
        channels=config["channels"],
    script:
        "../scripts/segment.py"
