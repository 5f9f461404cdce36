rule track:
    """Link cells over time with divisions; CTC res_track.txt + track-id masks; track vote."""
    input:
        cells=f"{RESULTS}/{{sample}}/cells_typed.parquet",
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        labels=f"{RESULTS}/{{sample}}/labels.tif",
        review_tracks=review_file("tracks.csv"),
        review_labels=review_file("labels.tif"),
        review_frames=review_file("reviewed_frames.txt"),
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
