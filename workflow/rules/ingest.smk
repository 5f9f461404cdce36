checkpoint ingest:
    """Read the movie's metadata (axes, pixel size, time step, channels) and check it."""
    input:
        movie=sample_path,
    output:
        f"{RESULTS}/{{sample}}/metadata.json",
    log:
        "logs/ingest/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        channels=sample_channels,
        image=config["image"],
    script:
        "../scripts/ingest.py"
