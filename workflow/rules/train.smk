# Models trained from human review (reviews/<sample>/). Run on demand, e.g.
#   snakemake --cores 2 train_segmentation      (cellpose weights from reviewed label frames)
#   snakemake --cores 2 train_classifier        (random forest from reviewed cell types)
# or let a run that uses the model file (segmentation.cellpose.model /
# classification.model_path) build it when it is missing.


rule train_segmentation:
    """Train a cellpose model on every reviewed label frame (reviews/<sample>/labels.tif)."""
    input:
        labels=[
            f"{REVIEWS}/{s}/labels.tif"
            for s in reviewed_samples("reviewed_frames.txt")
        ],
        frames=[
            f"{REVIEWS}/{s}/reviewed_frames.txt"
            for s in reviewed_samples("reviewed_frames.txt")
        ],
        movies=[SAMPLES.loc[s, "path"] for s in reviewed_samples("reviewed_frames.txt")],
    output:
        weights=f"resources/models/{config['training']['segmentation']['name']}/weights.pth",
    log:
        "logs/train/segmentation.log",
    conda:
        "../envs/segment.yaml"
    params:
        samples=reviewed_samples("reviewed_frames.txt"),
        channels=[
            SAMPLES.loc[s, "channels"].split(",")
            for s in reviewed_samples("reviewed_frames.txt")
        ],
        reviews=REVIEWS,
        # only the keys this rule uses: editing another section does not retrain the model
        axes=config["image"]["axes"],
        channel_choice={
            "channels": config["channels"],
            "segmentation": {"channel": config["segmentation"].get("channel")},
        },
        training=config["training"]["segmentation"],
    script:
        "../scripts/train_segmentation.py"


rule train_classifier:
    """Train the random-forest cell-type classifier on every reviewed cell type."""
    input:
        cells=[
            f"{RESULTS}/{s}/cells.parquet" for s in reviewed_samples("cell_types.csv")
        ],
        types=[
            f"{REVIEWS}/{s}/cell_types.csv" for s in reviewed_samples("cell_types.csv")
        ],
    output:
        model=config["training"]["classifier"]["output"],
    log:
        "logs/train/classifier.log",
    conda:
        "../envs/core.yaml"
    params:
        training=config["training"]["classifier"],
        samples=reviewed_samples("cell_types.csv"),
        reviews=REVIEWS,
    script:
        "../scripts/train_classifier.py"


rule tune_segmentation:
    """Tune the classic segmentation's parameters on every reviewed label frame (Optuna TPE,
    SEG cross-validated over folds of the frames) into a preset that segmentation.classic.preset
    can name; the preset records the frames it was tuned on, so evaluate scores only the others."""
    input:
        labels=[
            f"{REVIEWS}/{s}/labels.tif"
            for s in reviewed_samples("reviewed_frames.txt")
        ],
        frames=[
            f"{REVIEWS}/{s}/reviewed_frames.txt"
            for s in reviewed_samples("reviewed_frames.txt")
        ],
        metadata=[
            f"{RESULTS}/{s}/metadata.json"
            for s in reviewed_samples("reviewed_frames.txt")
        ],
    output:
        f"resources/presets/{config['training']['tuning']['name']}.yaml",
    log:
        "logs/train/tune_segmentation.log",
    conda:
        "../envs/segment.yaml"
    params:
        samples=reviewed_samples("reviewed_frames.txt"),
        reviews=REVIEWS,
        channel_choice={
            "channels": config["channels"],
            "segmentation": {"channel": config["segmentation"].get("channel")},
        },
        # the starting point: the classic settings of this run
        classic=config["segmentation"].get("classic", {}),
        tuning=config["training"]["tuning"],
    script:
        "../scripts/tune_segmentation.py"
