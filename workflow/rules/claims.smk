localrules:
    judge,


rule judge:
    """Judge every claim of a paper from the seeds of its runs; one MLflow run per claim."""
    input:
        lambda wc: run_files(wc.paper, "metrics.json"),
    output:
        f"{RESULTS}/claims/{{paper}}.json",
    log:
        f"{RESULTS}/logs/judge/{{paper}}.log",
    conda:
        "../envs/logitrepro.yaml"
    params:
        settings=judge_settings,
        config=CONFIG_FILE,
    shell:
        "python -m logitrepro judge --config {params.config:q} --paper {wildcards.paper} --metrics {input:q} "
        "--out {output:q} > {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output:q} >> {log:q} 2>&1"
