rule prepare_dataset:
    """Fetch a dataset through its sources chain, verify its checksum, write the splits."""
    conda:
        "../envs/logitrepro.yaml"
    output:
        directory(f"{DATA}/{{dataset}}"),
    params:
        resolved=data_settings,
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare/{{dataset}}.tsv"
    shell:
        "python -m logitrepro prepare --dataset {wildcards.dataset} --out {output} "
        "--resolved {params.resolved:q} > {log} 2>&1"
