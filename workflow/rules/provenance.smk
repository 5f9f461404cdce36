rule provenance:
    """provenance.json for a sample's results: versions, config hash, input checksums, times."""
    input:
        movie=sample_path,
        outputs=lambda wc: sample_outputs(wc.sample),
    output:
        f"{RESULTS}/{{sample}}/provenance.json",
    log:
        "logs/provenance/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        config=config,
        command=" ".join(sys.argv),
    script:
        "../scripts/provenance.py"


rule provenance_summary:
    """provenance.json for the across-sample summary."""
    input:
        movie=[],
        outputs=rules.summary.output,
    output:
        f"{RESULTS}/summary/provenance.json",
    log:
        "logs/provenance/summary.log",
    conda:
        "../envs/core.yaml"
    params:
        config=config,
        command=" ".join(sys.argv),
    script:
        "../scripts/provenance.py"
