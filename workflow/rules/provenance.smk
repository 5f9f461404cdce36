rule provenance:
    """provenance.json for a sample's results: versions, config hash, input checksums, times."""
    input:
        movie=sample_path,
        outputs=lambda wc: sample_outputs(wc.sample),
    output:
        f"{RESULTS}/{{sample}}/provenance.json",
    params:
        config=config,
        command=" ".join(sys.argv),
    log:
        "logs/provenance/{sample}.log",
    script:
        "../scripts/provenance.py"


rule provenance_summary:
    """provenance.json for the across-sample summary."""
    input:
        movie=[],
        outputs=rules.summary.output,
    output:
        f"{RESULTS}/summary/provenance.json",
    params:
        config=config,
        command=" ".join(sys.argv),
    log:
        "logs/provenance/summary.log",
    script:
        "../scripts/provenance.py"
