rule train:
    """Train one paper/experiment/arm/seed. An interrupted job resumes from its checkpoint."""
    conda:
        "../envs/logitrepro.yaml"
    input:
        data=ancient_input(dataset_dir),
    output:
        f"{RUN_DIR}/train.json",
    params:
        spec=job_spec,
        data_checksum=data_checksum,
        run_dir=lambda wc, output: os.path.dirname(output[0]),
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    log:
        f"{RESULTS}/logs/train/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}.tsv"
    shell:
        "python -m logitrepro train --spec {params.spec:q} --run-dir {params.run_dir} "
        "--threads {threads} > {log} 2>&1"
