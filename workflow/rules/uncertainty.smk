rule count_intervals:
    """Each per-type count per frame with an interval from the calls' own scores."""
    input:
        tracks=f"{RESULTS}/{{sample}}/tracks.parquet",
    output:
        intervals=f"{RESULTS}/{{sample}}/count_intervals.csv",
    log:
        "logs/count_intervals/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        classes=[c["name"] for c in config["classification"]["classes"]],
        uncertainty=config["uncertainty"],
    script:
        "../scripts/uncertainty.py"


rule audited_counts:
    """Error rates per called type from the user's audit, and the counts corrected for them."""
    input:
        counts=f"{RESULTS}/{{sample}}/counts.csv",
        audit=f"{REVIEWS}/{{sample}}/audit.csv",
    output:
        counts=f"{RESULTS}/{{sample}}/audited_counts.csv",
        errors=f"{RESULTS}/{{sample}}/audit_errors.csv",
    log:
        "logs/audited_counts/{sample}.log",
    conda:
        "../envs/core.yaml"
    params:
        uncertainty=config["uncertainty"],
    script:
        "../scripts/uncertainty.py"
