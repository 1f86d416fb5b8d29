localrules:
    judge,


rule judge:
    """Judge every claim of a paper from the seeds of its runs; one MLflow run per claim."""
    conda:
        "../envs/logitrepro.yaml"
    input:
        lambda wc: run_files(wc.paper, "metrics.json"),
    output:
        f"{RESULTS}/claims/{{paper}}.json",
    params:
        resolved=judge_settings,
    log:
        f"{RESULTS}/logs/judge/{{paper}}.log",
    shell:
        "python -m logitrepro judge --paper {wildcards.paper} --metrics {input} "
        "--resolved {params.resolved:q} --out {output} > {log} 2>&1 && "
        "python -m logitrepro provenance --inputs {input} --outputs {output} >> {log} 2>&1"
