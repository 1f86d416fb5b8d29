rule evaluate:
    """Validation and test metrics of a finished run, added to its MLflow run."""
    conda:
        "../envs/logitrepro.yaml"
    input:
        f"{RUN_DIR}/train.json",
    output:
        f"{RUN_DIR}/metrics.json",
    params:
        run_dir=lambda wc, output: os.path.dirname(output[0]),
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    log:
        f"{RESULTS}/logs/evaluate/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}.tsv"
    shell:
        "python -m logitrepro evaluate --run-dir {params.run_dir} --out {output} "
        "--threads {threads} > {log} 2>&1 && "
        "python -m logitrepro provenance --inputs {input} --outputs {output} >> {log} 2>&1"
