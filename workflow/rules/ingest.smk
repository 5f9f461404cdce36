checkpoint ingest:
    """Read the movie's metadata (axes, pixel size, time step, channels) and check it."""
    input:
        movie=sample_path,
    output:
        f"{RESULTS}/{{sample}}/metadata.json",
    params:
        channels=sample_channels,
        image=config["image"],
    log:
        "logs/ingest/{sample}.log",
    script:
        "../scripts/ingest.py"
