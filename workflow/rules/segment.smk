rule segment:
    """Segment every frame (config key `segmentation`) into a uint32 label stack."""
    input:
        movie=sample_path,
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
    output:
        f"{RESULTS}/{{sample}}/labels.tif",
    params:
        segmentation=config["segmentation"],
        channels=config["channels"],
    log:
        "logs/segment/{sample}.log",
    script:
        "../scripts/segment.py"
