rule track:
    """Link cells over time with divisions; CTC res_track.txt + track-id masks; track vote."""
    input:
        cells=f"{RESULTS}/{{sample}}/cells_typed.parquet",
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        labels=f"{RESULTS}/{{sample}}/{LABELS}",
        review_tracks=review_file("tracks.csv"),
        review_geff=review_file("tracks.geff"),
        review_labels=review_file("labels.tif"),
        review_frames=review_file("reviewed_frames.txt"),
        drift=lambda wc: (
            f"{RESULTS}/{wc.sample}/drift.csv"
            if config["tracking"]["drift_correction"]
            else []
        ),
    output:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
        ctc=directory(f"{RESULTS}/{{sample}}/ctc"),
    log:
        "logs/track/{sample}.log",
    conda:
        "../envs/track.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * 2 ** (attempt - 1),
    params:
        review_dir=lambda wc: f"{REVIEWS}/{wc.sample}",
        tracking=config["tracking"],
        track_vote=config["classification"]["track_vote"],
    script:
        "../scripts/track.py"


rule drift:
    """Stage drift of the nuclear channel (tracking.drift_correction) and its report figure."""
    input:
        movie=sample_path,
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
    output:
        drift=f"{RESULTS}/{{sample}}/drift.csv",
        plot=report(
            f"{RESULTS}/{{sample}}/report/drift.png",
            caption="../report/drift.rst",
            category="Samples",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "stage drift"},
        ),
    log:
        "logs/drift/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        segmentation=config["segmentation"],
        channels=config["channels"],
    script:
        "../scripts/drift.py"
