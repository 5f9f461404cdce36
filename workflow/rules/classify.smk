rule classify:
    """Cell type per cell from marker gates or a trained model (reviewed types win)."""
    input:
        cells=f"{RESULTS}/{{sample}}/cells.parquet",
        metadata=f"{RESULTS}/{{sample}}/metadata.json",
        review_types=review_file("cell_types.csv"),
        model=lambda wc: (
            [config["classification"]["model_path"]]
            if config["classification"]["method"] == "model"
            else []
        ),
    output:
        cells=f"{RESULTS}/{{sample}}/cells_typed.parquet",
        thresholds=f"{RESULTS}/{{sample}}/thresholds.csv",
    log:
        "logs/classify/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        review_dir=lambda wc: f"{REVIEWS}/{wc.sample}",
        classification=config["classification"],
    script:
        "../scripts/classify.py"
