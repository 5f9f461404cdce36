def segment_chunks(wildcards):
    """Chunk stacks to gather when `jobs.segment_frames_per_job` splits segmentation, else none."""
    per_job = config["jobs"]["segment_frames_per_job"]
    if not per_job:
        return []
    from pipeline.io import frame_chunks, read_json

    metadata = checkpoints.ingest.get(sample=wildcards.sample).output[0]
    n_frames = read_json(metadata)["n_frames"]
    return [
        f"{RESULTS}/{wildcards.sample}/chunks/labels_{start}-{stop}.tif"
        for start, stop in frame_chunks(n_frames, per_job)
    ]


def segmentation_model(wildcards):
    """The cellpose weights file when the config names one (so a missing one is trained first)."""
    settings = config["segmentation"]
    model = settings.get("cellpose", {}).get("model", "")
    if settings["backend"] == "cellpose" and ("/" in model or model.endswith(".pth")):
        return [model]
    return []


rule segment:
    """Segment every frame (config key `segmentation`) into a uint32 label stack, or gather the
    frame chunks segmented by separate jobs (config key `jobs`)."""
    input:
        movie=sample_path,
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        chunks=segment_chunks,
        model=segmentation_model,
    output:
        f"{RESULTS}/{{sample}}/labels.tif",
    params:
        segmentation=config["segmentation"],
        channels=config["channels"],
    resources:
        # streamed frame by frame: memory does not grow with the movie; runtime does
        mem_mb=lambda wc, attempt: (2000 if config["segmentation"]["backend"] == "classic" else 6000) * 2 ** (attempt - 1),
        runtime=lambda wc, input: int(10 + (0.01 if config["segmentation"]["backend"] == "classic" else 0.05) * input.size_mb),
    log:
        "logs/segment/{sample}.log",
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
    params:
        segmentation=config["segmentation"],
        channels=config["channels"],
    wildcard_constraints:
        start=r"\d+",
        stop=r"\d+",
    resources:
        # streamed frame by frame: memory does not grow with the movie; runtime does
        mem_mb=lambda wc, attempt: (2000 if config["segmentation"]["backend"] == "classic" else 6000) * 2 ** (attempt - 1),
        runtime=lambda wc, input: int(10 + (0.01 if config["segmentation"]["backend"] == "classic" else 0.05) * input.size_mb),
    log:
        "logs/segment/{sample}_{start}-{stop}.log",
    script:
        "../scripts/segment.py"
