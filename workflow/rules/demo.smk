rule demo_data:
    """Generate a synthetic marrow organoid movie and its ground truth (config key `demo`)."""
    output:
        movie="resources/demo/{name}/movie.ome.tif",
        gt=directory("resources/demo/{name}/GT"),
    log:
        "logs/demo/{name}.log",
    conda:
        "../envs/core.yaml"
    params:
        demo=lambda wc: config["demo"][wc.name],
    script:
        "../scripts/make_demo.py"
